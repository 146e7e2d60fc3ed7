"""结果未知: a writeback whose answer was lost is never resent blind. JD is read first; JD's later state
settles it (refunded → 回传成功, nothing sent); otherwise it is resent once, later, and never again
after a second unknown outcome. Real database, the SA sandbox over real HTTP: its call log counts
every send. The sandbox's `hang` fault answers after the client gave up, and applies the writeback."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from refunds.models import SETTLED_BY_REFUND, UNKNOWN_STOPPED, WRITEBACK_LEASE, RawRefund, WritebackStatus
from sa_sync.models import WritebackOutcome
from sa_sync.writeback import refund_writeback, writeback_recover

from .conftest import seed_applications
from .test_writeback_service import WRITEBACK, reload, slip_for, writebacks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lossy(jd, settings):
    settings.JOS_TIMEOUT_SECONDS = 0.5
    settings.JOS_MAX_RETRIES = 3  # reads may retry; a write never does
    settings.WRITEBACK_UNKNOWN_RECHECK_SECONDS = 300
    return jd


def lose_next_answer(sandbox, shop):
    """The next writeback reaches JD and is applied, but its answer comes after the client gave up."""
    sandbox.set_faults(
        app_key=shop.app_key, fail_next=[{"kind": "hang", "seconds": 1.2, "method": WRITEBACK}]
    )


def wait_for_sends(sandbox, n):
    deadline = timezone.now() + timedelta(seconds=8)
    while len(writebacks(sandbox)) < n and timezone.now() < deadline:
        threading.Event().wait(0.1)  # a late answer is logged once the sandbox finishes it
    threading.Event().wait(0.3)
    return len(writebacks(sandbox))


def make_due(slip):
    RawRefund.objects.filter(pk=slip.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def jd_keeps_it_open(sandbox, shop):
    sandbox.set_policy(shop.app_key, auto_refund_on=[], delay_seconds=0)


def unknown_slip(sandbox, shop):
    slip = slip_for(shop)
    seed_applications(sandbox, [slip])
    lose_next_answer(sandbox, shop)
    [result] = refund_writeback([slip.pk], by="客服甲")
    assert result.outcome == WritebackOutcome.FAILED
    assert "结果未知" in result.message and "重试" not in result.message, result.message
    assert wait_for_sends(sandbox, 1) == 1
    return reload(slip)


def test_a_lost_answer_is_unknown_sent_once_and_not_resent_before_its_time(sandbox, lossy):
    jd_keeps_it_open(sandbox, lossy)
    slip = unknown_slip(sandbox, lossy)
    assert slip.writeback_status == WritebackStatus.UNKNOWN
    assert slip.get_writeback_status_display() == "结果未知"
    assert slip.next_attempt_at >= timezone.now() + timedelta(seconds=250)
    # A click and the sweep before the recheck time send nothing.
    [again] = refund_writeback([slip.pk], by="客服甲")
    assert again.outcome == WritebackOutcome.SKIPPED and "结果未知" in again.message
    writeback_recover()
    assert len(writebacks(sandbox)) == 1
    assert reload(slip).writeback_status == WritebackStatus.UNKNOWN


def test_jd_refunded_since_settles_it_as_succeeded_with_nothing_sent(sandbox, lossy):
    sandbox.set_policy(lossy.app_key, auto_refund_on=["1", "2"], delay_seconds=0)
    slip = unknown_slip(sandbox, lossy)
    make_due(slip)
    recovery = writeback_recover()
    assert recovery.slips_rechecked == [slip.pk]
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.SUCCEEDED
    assert slip.writeback_message == SETTLED_BY_REFUND
    assert len(writebacks(sandbox)) == 1  # the lost one only


def test_jd_still_open_gets_exactly_one_resend(sandbox, lossy):
    jd_keeps_it_open(sandbox, lossy)
    slip = unknown_slip(sandbox, lossy)
    make_due(slip)
    writeback_recover()
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.SUCCEEDED
    assert len(writebacks(sandbox)) == 2
    resend = slip.attempts.order_by("-id").first()
    assert "唯一一次重发" in resend.message and resend.request_summary.get("checked")
    make_due(slip)
    writeback_recover()
    assert len(writebacks(sandbox)) == 2


def test_a_second_unknown_outcome_is_never_sent_again(sandbox, lossy):
    jd_keeps_it_open(sandbox, lossy)
    slip = unknown_slip(sandbox, lossy)
    make_due(slip)
    lose_next_answer(sandbox, lossy)
    writeback_recover()
    assert wait_for_sends(sandbox, 2) == 2
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.UNKNOWN
    assert UNKNOWN_STOPPED in slip.writeback_message
    # Neither the sweep nor a click sends a third time.
    make_due(slip)
    writeback_recover()
    [click] = refund_writeback([slip.pk], by="客服甲")
    assert click.outcome == WritebackOutcome.REFUSED and click.message == UNKNOWN_STOPPED
    assert wait_for_sends(sandbox, 3) == 2
    assert reload(slip).writeback_status == WritebackStatus.UNKNOWN
    # JD refunds later: the sweep, still reading it, settles it.
    sandbox.update_refund(int(slip.refund_no), status=3)
    make_due(slip)
    writeback_recover()
    assert reload(slip).writeback_status == WritebackStatus.SUCCEEDED
    assert len(writebacks(sandbox)) == 2


def claimed_by_a_dead_process(slip):
    slip.start_writeback()
    slip.save()
    RawRefund.objects.filter(pk=slip.pk).update(
        writeback_claimed_at=timezone.now() - WRITEBACK_LEASE - timedelta(seconds=1)
    )
    return reload(slip)


@pytest.mark.parametrize("jd_refunded", [True, False], ids=["JD refunded", "JD still open"])
def test_a_crash_after_claiming_is_unknown_and_follows_the_same_rules(sandbox, lossy, jd_refunded):
    from core.audit import events_for

    jd_keeps_it_open(sandbox, lossy)
    slip = slip_for(lossy)
    seed_applications(sandbox, [slip])
    slip = claimed_by_a_dead_process(slip)
    if jd_refunded:  # the dead process had sent it, and JD refunded
        sandbox.update_refund(int(slip.refund_no), status=3)
    recovery = writeback_recover()
    assert recovery.slips_released == [slip.pk] and recovery.slips_rechecked == [slip.pk]
    slip = reload(slip)
    states = [e.to_state for e in events_for(slip).order_by("id")]
    assert "结果未知" in states
    assert slip.writeback_status == WritebackStatus.SUCCEEDED
    if jd_refunded:
        assert slip.writeback_message == SETTLED_BY_REFUND and writebacks(sandbox) == []
    else:
        assert len(writebacks(sandbox)) == 1
        assert "唯一一次重发" in slip.attempts.get().message
