"""JD's state table end to end (issue 10): for every refund-application state 0-11, what the sync
shows, what a click and a rule send, and the fresh read before sending catching a state that moved on
JD after the last sync. Real database, the SA sandbox over real HTTP: its call list is the proof."""

import itertools

import pytest

from orders.models import OrderStatus
from platforms.jd import asc_codes
from platforms.jd import codes as jd_codes
from platforms.jd.adapter import REFUND_QUERY as FRESH_READ_METHOD
from refunds.models import AutoDecision, PlatformStatus, RawRefund, RefundType, WritebackStatus
from sa_sync import auto_writeback
from sa_sync.models import SyncKind, WritebackAttempt, WritebackOutcome
from sa_sync.platform_sync import shop_sync
from sa_sync.writeback import refund_writeback

from .factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db(transaction=True)

WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
ALL_CODES = sorted(jd_codes.REFUND_APPLY_STATES)
_numbers = itertools.count(1)


@pytest.fixture
def jd_fast(jd, settings):
    settings.JOS_MAX_RETRIES = 0
    return jd


def application(sandbox, shop, *, status=0, order_status=None):
    """A JD application and the local order/line it belongs to (the sync links them by orderId-skuId)."""
    n = next(_numbers)
    order_id, sku = 830000000000 + n, f"{100000000000 + n}"
    order = OrderFactory(shop=shop, tid=str(order_id), status=order_status or OrderStatus.AWAITING_CS_REVIEW)
    OrderLineFactory(order=order, shop=shop, oid=f"{order_id}-{sku}")
    refund_id = 7200000000 + n
    sandbox.seed_refunds(
        shop.app_key,
        [
            {
                "id": refund_id,
                "orderId": order_id,
                "skuVoList": [{"skuId": sku, "skuCount": 1}],
                "status": status,
            }
        ],
    )
    return refund_id


def synced(shop, refund_id) -> RawRefund:
    run = shop_sync(shop, kind=SyncKind.REFUNDS)
    assert run.error == "", run.error
    return RawRefund.objects.select_related("shop", "order", "order_line").get(refund_no=str(refund_id))


def sent(sandbox):
    return [str(c["params"]["refId"]) for c in sandbox.calls(method=WRITEBACK)]


def expected_platform_status(code):
    state = jd_codes.REFUND_APPLY_STATES[code]
    return state.closed_as if state.closed else PlatformStatus.APPLIED


@pytest.mark.parametrize("code", ALL_CODES)
def test_sync_then_click_sends_only_what_jd_acts_on(sandbox, jd_fast, code):
    refund_id = application(sandbox, jd_fast, status=code)
    slip = synced(jd_fast, refund_id)
    assert slip.platform_status == expected_platform_status(code)
    assert slip.platform_status_code == str(code)

    [result] = refund_writeback([slip.pk], by="客服甲")
    if jd_codes.allows(code, jd_codes.SHIPMENT_CANCELLED):
        assert result.succeeded, result.message
        assert sent(sandbox) == [str(refund_id)]
    else:
        assert not result.succeeded and sent(sandbox) == []
        assert slip.refund_no in str(result.refund_no)
        state = jd_codes.REFUND_APPLY_STATES[code]
        if not state.closed:  # open but JD would not act: the refusal names JD's state
            assert f"京东状态为{state.label}" in result.message, result.message


@pytest.mark.parametrize("code", ALL_CODES)
def test_sync_then_rule_sends_only_what_jd_acts_on(sandbox, jd_fast, code):
    refund_id = application(sandbox, jd_fast, status=code)
    slip = synced(jd_fast, refund_id)
    auto_writeback.auto_writeback_rule_save(jd_fast, {"enabled": True}, by="测试")

    run = auto_writeback.auto_writeback_run(jd_fast.pk)
    acts = jd_codes.allows(code, jd_codes.SHIPMENT_CANCELLED)
    assert sent(sandbox) == ([str(refund_id)] if acts else [])
    assert run.succeeded == (1 if acts else 0)
    slip.refresh_from_db()
    assert slip.writeback_status == (WritebackStatus.SUCCEEDED if acts else WritebackStatus.NOT_SENT)
    # The run's verdict is on the slip itself, with its reason and the run. Closed applications
    # (退款成功, 取消退款 …) are outside the rule's statuses: the run never looks at them.
    state = jd_codes.REFUND_APPLY_STATES[code]
    if acts:
        assert (slip.auto_decision, slip.auto_decision_run_id) == (AutoDecision.SUCCEEDED, run.pk)
    elif not state.closed:
        assert (slip.auto_decision, slip.auto_decision_run_id) == (AutoDecision.NOT_SENT, run.pk)
        assert f"京东状态为{state.label}，无法回传取消发货成功" in slip.auto_decision_reason
        assert slip.auto_decision_at is not None
    else:
        assert slip.auto_decision == ""


@pytest.mark.parametrize("code", ALL_CODES)
@pytest.mark.parametrize("by_rule", [False, True], ids=["click", "rule"])
def test_a_change_on_jd_after_the_sync_is_caught_before_sending(sandbox, jd_fast, code, by_rule):
    """Synced at 0 未审核 (sendable); JD moves to `code` before the click / the run."""
    refund_id = application(sandbox, jd_fast, status=0)
    slip = synced(jd_fast, refund_id)
    assert slip.writeback_refusal() is None
    sandbox.update_refund(refund_id, status=code)
    sandbox.clear_calls()

    if by_rule:
        auto_writeback.auto_writeback_rule_save(jd_fast, {"enabled": True}, by="测试")
        auto_writeback.auto_writeback_run(jd_fast.pk)
    else:
        refund_writeback([slip.pk], by="客服甲")
    if by_rule and not jd_codes.allows(code, jd_codes.SHIPMENT_CANCELLED):
        slip.refresh_from_db()  # selected, then refused on JD's fresh word: the slip says why
        assert slip.auto_decision == AutoDecision.NOT_SENT
        assert "发送前已向京东核对状态" in slip.auto_decision_reason

    # One read before the send, whatever the answer.
    assert [c["method"] for c in sandbox.calls()][:1] == [FRESH_READ_METHOD]
    assert sandbox.calls(method=FRESH_READ_METHOD)[0]["params"]["ids"] == str(refund_id)
    slip.refresh_from_db()
    assert slip.platform_status_code == str(code)  # the slip now shows what JD said
    assert slip.platform_status == expected_platform_status(code)
    label = jd_codes.REFUND_APPLY_STATES[code].label
    if jd_codes.allows(code, jd_codes.SHIPMENT_CANCELLED):
        assert sent(sandbox) == [str(refund_id)]
        assert slip.writeback_status == WritebackStatus.SUCCEEDED
        attempt = WritebackAttempt.objects.get(slip=slip)
    else:
        assert sent(sandbox) == []
        # Refused on JD's word, like any refusal: nothing sent, 回传失败 with the reason.
        assert slip.writeback_status == WritebackStatus.FAILED
        attempt = WritebackAttempt.objects.get(slip=slip)
        assert attempt.outcome == WritebackOutcome.REFUSED
        assert slip.writeback_message == attempt.message
        assert f"发送前已向京东核对状态：{label}" in attempt.message
    assert attempt.request_summary["checked"] == f"发送前已向京东核对状态：{label}"


@pytest.mark.parametrize("code", sorted(asc_codes.SERVICE_STATES))
def test_returns_follow_the_service_orders_table_too(sandbox, jd_fast, code):
    """退货入仓 for a return (a JD service order) whose goods arrived, after JD moved to `code` since
    the sync: sent only while JD waits for the goods, to the service order."""
    n = next(_numbers)
    order_id, sku = 830000000000 + n, 100000000000 + n
    order = OrderFactory(shop=jd_fast, tid=str(order_id), status=OrderStatus.COMPLETED)
    OrderLineFactory(order=order, shop=jd_fast, oid=f"{order_id}-{sku}")
    service_id = 1_890_000_000 + n
    row = {
        "serviceId": service_id,
        "orderId": order_id,
        "skuId": sku,
        "serviceStatus": 10005,
        "expressCode": "SF1",
    }
    sandbox.seed_service_orders(jd_fast.app_key, [row])
    assert shop_sync(jd_fast, kind=SyncKind.SERVICE_ORDERS).error == ""
    slip = RawRefund.objects.get(shop=jd_fast, refund_no=str(service_id))
    assert (slip.refund_type, slip.platform_status) == (RefundType.RETURN, PlatformStatus.AWAITING_RECEIPT)
    RawRefund.objects.filter(pk=slip.pk).update(inbound_num=slip.num)
    sandbox.update_service_order(service_id, app_key=jd_fast.app_key, serviceStatus=code)

    [result] = refund_writeback([slip.pk])
    assert result.succeeded is asc_codes.allows(code, asc_codes.GOODS_IN_WAREHOUSE), result.message
    registered = [c["params"]["serviceId"] for c in sandbox.calls(method="jingdong.asc.receive.register")]
    assert registered == ([service_id] if result.succeeded else [])
    assert sent(sandbox) == []


@pytest.mark.parametrize(
    "fault",
    [{"kind": "http", "status": 503}, {"kind": "jos", "code": "65"}, {"kind": "hang", "seconds": 3}],
    ids=["http-503", "jos-65", "timeout"],
)
def test_a_failed_fresh_read_sends_nothing_and_retries_later(sandbox, jd_fast, settings, fault):
    settings.JOS_TIMEOUT_SECONDS = 1
    refund_id = application(sandbox, jd_fast, status=0)
    slip = synced(jd_fast, refund_id)
    sandbox.set_faults(app_key=jd_fast.app_key, fail_next=[{**fault, "method": FRESH_READ_METHOD}])

    [result] = refund_writeback([slip.pk], by="客服甲")
    assert result.outcome == WritebackOutcome.FAILED
    assert "发送前向京东核对退款单状态失败" in result.message
    # The shop has no auto-writeback rule: nothing sends it again by itself, and the message says so.
    assert "稍后自动重试" not in result.message and result.message.endswith("请稍后重新回传")
    assert sent(sandbox) == []
    slip.refresh_from_db()
    assert slip.writeback_status == WritebackStatus.FAILED and slip.next_attempt_at is not None

    # JD answers again: the retry goes out.
    RawRefund.objects.filter(pk=slip.pk).update(next_attempt_at=None)
    assert refund_writeback([slip.pk])[0].succeeded
    assert sent(sandbox) == [str(refund_id)]


def test_one_read_per_fifty_slips(sandbox, jd_fast):
    ids = [application(sandbox, jd_fast, status=0) for _ in range(60)]
    shop_sync(jd_fast, kind=SyncKind.REFUNDS)
    sandbox.clear_calls()
    slips = RawRefund.objects.filter(refund_no__in=[str(i) for i in ids]).values_list("pk", flat=True)
    results = refund_writeback(list(slips))
    assert all(r.succeeded for r in results)
    reads = sandbox.calls(method=FRESH_READ_METHOD)
    assert len(reads) == 2 and sorted(len(r["params"]["ids"].split(",")) for r in reads) == [10, 50]
    assert len(sent(sandbox)) == 60


def test_the_slip_list_shows_and_filters_the_last_automatic_decision(sandbox, jd_fast, client, cs_user):
    from .conftest import PASSWORD

    refund_id = application(sandbox, jd_fast, status=8)
    slip = synced(jd_fast, refund_id)
    auto_writeback.auto_writeback_rule_save(jd_fast, {"enabled": True}, by="测试")
    run = auto_writeback.auto_writeback_run(jd_fast.pk)
    other = synced(jd_fast, application(sandbox, jd_fast, status=0))  # never judged by a run

    client.login(username=cs_user.username, password=PASSWORD)
    listing = client.get("/admin/refunds/rawrefund/", {"auto_decision": "not_sent"}).content.decode()
    assert slip.refund_no in listing and other.refund_no not in listing
    assert "京东拦截失败" in listing
    page = client.get(f"/admin/refunds/rawrefund/{slip.pk}/change/").content.decode()
    assert "自动回传（最近一次运行对该单的判断）" in page
    assert "发送前已向京东核对状态" not in page  # refused by the rule's query: no read was made
    assert "京东状态为青龙拦截失败，无法回传取消发货成功" in page and f"#{run.pk}" in page
    refund_writeback([other.pk], by=cs_user)
    page = client.get(f"/admin/refunds/rawrefund/{other.pk}/change/").content.decode()
    assert "发送前已向京东核对状态：未审核" in page  # the extra call, in the attempt log


def test_a_rule_run_reads_jd_once_per_fifty_slips_after_its_probe(sandbox, jd_fast):
    ids = [application(sandbox, jd_fast, status=0) for _ in range(51)]
    shop_sync(jd_fast, kind=SyncKind.REFUNDS)
    sandbox.clear_calls()
    auto_writeback.auto_writeback_rule_save(jd_fast, {"enabled": True, "batch_size": 60}, by="测试")
    run = auto_writeback.auto_writeback_run(jd_fast.pk)
    assert run.succeeded == len(ids)
    # The first slip goes alone (it learns a credential refusal for the shop), then 50 at a time.
    assert len(sandbox.calls(method=FRESH_READ_METHOD)) == 2


# --- JD's fresh state governs whatever the timestamps say ----------------------------------------
def test_a_slip_stamped_in_the_future_is_still_decided_on_jds_fresh_state(sandbox, jd_fast):
    """A slip whose stored 平台更新时间 is in 2099 (older pushes accepted any) and JD at 8 青龙拦截失败:
    nothing is sent, and the slip takes JD's state and words."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    refund_id = application(sandbox, jd_fast, status=0)
    slip = synced(jd_fast, refund_id)
    RawRefund.objects.filter(pk=slip.pk).update(
        platform_modified=datetime(2099, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    )
    sandbox.update_refund(refund_id, status=8)
    sandbox.clear_calls()

    [result] = refund_writeback([slip.pk], by="客服甲")
    assert not result.succeeded
    assert sent(sandbox) == []
    assert "京东状态为青龙拦截失败" in result.message, result.message
    slip.refresh_from_db()
    assert slip.platform_status_code == "8"
    assert slip.platform_modified.year < 2099  # JD's own change time replaced the future one
    assert "京东状态为青龙拦截失败" in slip.writeback_message
    attempt = WritebackAttempt.objects.get(slip=slip)
    assert attempt.outcome == WritebackOutcome.REFUSED


def test_a_jd_row_changed_in_the_future_is_set_aside_at_sync(sandbox, jd_fast):
    from sa_sync.models import SyncRejectedRow

    refund_id = application(sandbox, jd_fast, status=0)
    sandbox.update_refund(refund_id, checkTime="2099-01-01 00:00:00")
    run = shop_sync(jd_fast, kind=SyncKind.REFUNDS)
    assert not RawRefund.objects.filter(refund_no=str(refund_id)).exists()
    [rejected] = SyncRejectedRow.objects.filter(run=run, platform_id=str(refund_id))
    assert "平台更新时间" in rejected.reason and "checkTime" in rejected.reason
    assert "2099-01-01 00:00:00" in rejected.reason
