from datetime import timedelta

import pytest
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from core.audit import events_for
from refunds.models import WRITEBACK_LEASE, PlatformStatus, RawRefund, RefundType, WritebackStatus

from .factories import RawRefundFactory

pytestmark = pytest.mark.django_db

S = WritebackStatus
TRANSITIONS = [
    "start_writeback",
    "mark_writeback_succeeded",
    "mark_writeback_failed",
    "release_stale_claim",
    "mark_writeback_unknown",
    "settle_writeback_succeeded",
]
# (from, method) -> to, for every transition the domain allows.
ALLOWED = {
    (S.NOT_SENT, "start_writeback"): S.SENDING,
    (S.FAILED, "start_writeback"): S.SENDING,
    (S.SENDING, "mark_writeback_succeeded"): S.SUCCEEDED,
    (S.SENDING, "mark_writeback_failed"): S.FAILED,
    # A claim whose process died may have been sent: its outcome is unknown, never a plain failure.
    (S.SENDING, "release_stale_claim"): S.UNKNOWN,
    (S.SENDING, "mark_writeback_unknown"): S.UNKNOWN,
    (S.UNKNOWN, "start_writeback"): S.SENDING,
    (S.UNKNOWN, "settle_writeback_succeeded"): S.SUCCEEDED,
}


def slip_in(status, **kwargs):
    slip = RawRefundFactory(**kwargs)
    if status == S.NOT_SENT:
        return slip
    # Reach the state the way production does: through transitions.
    slip.start_writeback()
    if status == S.SUCCEEDED:
        slip.mark_writeback_succeeded()
    elif status == S.FAILED:
        slip.mark_writeback_failed(reason="x")
    elif status == S.UNKNOWN:
        slip.mark_writeback_unknown(reason="x")
    slip.save()
    return RawRefund.objects.get(pk=slip.pk)


@pytest.mark.parametrize(("source", "method"), list(ALLOWED))
def test_allowed_transitions(source, method):
    slip = slip_in(source)
    if method == "release_stale_claim":
        slip.writeback_claimed_at = timezone.now() - WRITEBACK_LEASE - timedelta(seconds=1)
    getattr(slip, method)(by="测试", reason="原因")
    slip.save()
    slip.refresh_from_db()
    assert slip.writeback_status == ALLOWED[(source, method)]
    event = events_for(slip).first()
    assert (event.from_state, event.to_state) == (source.label, ALLOWED[(source, method)].label)
    assert event.actor_name == "测试"


@pytest.mark.parametrize(
    ("source", "method"),
    [(s, m) for s in S for m in TRANSITIONS if (s, m) not in ALLOWED],
)
def test_every_other_transition_is_refused(source, method):
    slip = slip_in(source)
    events_before = events_for(slip).count()
    with pytest.raises(TransitionNotAllowed):
        getattr(slip, method)()
    assert slip.writeback_status == source
    assert events_for(slip).count() == events_before


def test_succeeded_is_final():
    slip = slip_in(S.SUCCEEDED)
    for method in TRANSITIONS:
        with pytest.raises(TransitionNotAllowed):
            getattr(slip, method)()


def test_start_refused_for_slip_without_a_writeback_kind():
    slip = RawRefundFactory(refund_type=RefundType.EXCHANGE, platform_status=PlatformStatus.AWAITING_RECEIPT)
    with pytest.raises(TransitionNotAllowed):
        slip.start_writeback()
    assert slip.writeback_status == S.NOT_SENT


def test_return_awaiting_receipt_can_start():
    slip = RawRefundFactory(refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RECEIPT)
    slip.start_writeback()
    assert slip.writeback_status == S.SENDING


def test_fresh_claim_cannot_be_released():
    slip = slip_in(S.SENDING)
    with pytest.raises(TransitionNotAllowed):
        slip.release_stale_claim()


def test_status_cannot_be_set_directly():
    slip = RawRefundFactory()
    with pytest.raises(AttributeError):
        slip.writeback_status = S.SUCCEEDED
    slip.refresh_from_db()
    assert slip.writeback_status == S.NOT_SENT


def test_transition_counts_attempts_and_records_message():
    slip = slip_in(S.FAILED)
    slip.start_writeback()
    slip.mark_writeback_failed(reason="京东返回：access_token 失效")
    slip.save()
    slip.refresh_from_db()
    assert slip.writeback_attempts == 2
    assert slip.writeback_message == "京东返回：access_token 失效"
