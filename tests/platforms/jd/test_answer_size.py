"""A cap on JOS answer size (issue 9): the client streams the body and stops past JOS_MAX_RESPONSE_BYTES,
failing that call (not retried) with a Chinese reason naming the limit. The SA sandbox sends the huge
answer (its `answer_padding_bytes` fault) over real HTTP; the memory it saves is measured by
bench/jos_memory.py (a timing/memory goal belongs in bench/, not here)."""

import pytest

from platforms.jd.client import JosClient
from platforms.jd.errors import JosResponseTooLargeError
from refunds.models import WritebackStatus
from sa_sync.models import SyncCursor, SyncKind, SyncRunStatus, WritebackAttempt
from sa_sync.platform_sync import shop_sync
from sa_sync.writeback import refund_writeback

from ...conftest import seed_applications
from ...factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db

PAGE_LIST = "jingdong.pop.afs.soa.refundapply.queryPageList"
WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
LIMIT = 64 * 1024


@pytest.fixture
def capped(settings):
    settings.JOS_MAX_RESPONSE_BYTES = LIMIT
    return LIMIT


def test_an_answer_past_the_limit_fails_the_call_once_with_the_limit_named(sandbox, jd, capped):
    sandbox.set_faults(app_key=jd.app_key, answer_padding_bytes=5 * 1024 * 1024)
    client = JosClient.for_shop(jd, sleep=lambda seconds: None)

    with pytest.raises(JosResponseTooLargeError) as raised:
        client.call(PAGE_LIST, {"ids": "1", "pageSize": 10})

    error = raised.value
    assert not error.retryable and error.code == "RESPONSE_TOO_LARGE"
    assert "京东接口返回内容超过上限 64 KB（JOS_MAX_RESPONSE_BYTES）" in error.user_message
    assert len(sandbox.calls(method=PAGE_LIST)) == 1  # not retried: the same call brings the same answer


def test_an_answer_under_the_limit_is_read(sandbox, jd, capped):
    sandbox.set_faults(app_key=jd.app_key, answer_padding_bytes=LIMIT - 1024)
    payload = JosClient.for_shop(jd).call(PAGE_LIST, {"ids": "1", "pageSize": 10})
    assert payload["queryResult"]["success"] is True


def test_a_writeback_whose_answer_is_huge_fails_with_the_reason(sandbox, jd, capped):
    slip = RawRefundFactory(order_line=OrderLineFactory(order=OrderFactory(shop=jd)))
    seed_applications(sandbox, [slip])
    sandbox.set_faults(app_key=jd.app_key, answer_padding_bytes=5 * 1024 * 1024)

    [result] = refund_writeback([slip.pk])

    assert not result.succeeded and "超过上限 64 KB" in result.message
    slip.refresh_from_db()
    assert slip.writeback_status == WritebackStatus.FAILED
    attempt = WritebackAttempt.objects.get(slip=slip)
    assert "JOS_MAX_RESPONSE_BYTES" in attempt.message
    # The huge answer came to the fresh read of JD's state before sending: nothing is sent blind.
    assert len(sandbox.calls(method=WRITEBACK)) == 0


def test_a_sync_whose_answer_is_huge_fails_and_keeps_its_cursor(sandbox, jd, capped):
    sandbox.set_faults(app_key=jd.app_key, answer_padding_bytes=5 * 1024 * 1024)
    run = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert run.status == SyncRunStatus.FAILED and run.error_code == "RESPONSE_TOO_LARGE"
    assert "超过上限 64 KB" in run.error
    assert SyncCursor.objects.get(shop=jd, kind=SyncKind.REFUNDS).synced_until is None
