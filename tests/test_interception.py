"""拦截发货: a refund-only slip stops its line from shipping, as far as the order allows."""

import pytest
from django.urls import reverse

from core.audit import events_for
from orders.models import InterceptionStatus, OrderStatus
from refunds.models import PlatformStatus, RefundType, WritebackStatus
from refunds.services import raw_refund_confirm_interception, raw_refund_intercept
from sa_sync.models import SyncKind
from sa_sync.platform_sync import shop_sync
from sa_sync.writeback import refund_writeback

from .conftest import PASSWORD, seed_applications
from .factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db


def slip_on(status, lines=1, **kwargs):
    """A refund slip for the whole of the order's first line (a partial one: see the tests below)."""
    order = OrderFactory(status=status)
    order_lines = [OrderLineFactory(order=order) for _ in range(lines)]
    return RawRefundFactory(order_line=order_lines[0], num=order_lines[0].num, **kwargs)


def test_order_in_review_cancels_the_line_and_the_order_when_it_was_the_last():
    slip = slip_on(OrderStatus.AWAITING_FINANCE_REVIEW)
    assert raw_refund_intercept([slip.pk]) == 1
    line, order = slip.order_line, slip.order
    line.refresh_from_db()
    order.refresh_from_db()
    assert line.is_cancelled and line.interception_status == InterceptionStatus.SUCCEEDED
    assert order.status == OrderStatus.CANCELLED
    assert events_for(order).get(field="status").reason == "所有子订单均已取消"
    assert slip.writeback_refusal() is None


def test_other_lines_keep_the_order_alive():
    slip = slip_on(OrderStatus.AWAITING_CS_REVIEW, lines=2)
    raw_refund_intercept([slip.pk])
    slip.order.refresh_from_db()
    assert slip.order.status == OrderStatus.AWAITING_CS_REVIEW


def test_order_in_the_warehouse_waits_for_the_warehouse():
    slip = slip_on(OrderStatus.IN_WAREHOUSE)
    raw_refund_intercept([slip.pk])
    slip.refresh_from_db()
    assert slip.order_line.interception_status == InterceptionStatus.PENDING
    assert slip.attention == "拦截中，待仓库确认"
    assert "待仓库确认" in slip.writeback_refusal()

    raw_refund_confirm_interception(slip.order_line_id, succeeded=True, by="仓库甲")
    slip.refresh_from_db()
    slip.order_line.refresh_from_db()
    assert (
        slip.order_line.interception_status == InterceptionStatus.SUCCEEDED and slip.order_line.is_cancelled
    )
    assert slip.attention == "" and slip.writeback_refusal() is None
    event = events_for(slip.order_line).filter(field="interception_status").order_by("-id").first()
    assert (event.from_state, event.to_state, event.actor_name) == (
        "拦截中(待仓库确认)",
        "拦截成功",
        "仓库甲",
    )


def test_warehouse_confirms_failure():
    slip = slip_on(OrderStatus.IN_WAREHOUSE)
    raw_refund_intercept([slip.pk])
    raw_refund_confirm_interception(slip.order_line_id, succeeded=False, by="仓库甲")
    slip.refresh_from_db()
    assert slip.order_line.interception_status == InterceptionStatus.FAILED
    assert slip.attention == "拦截失败：货品已出库" and "拦截失败" in slip.writeback_refusal()
    # Confirming again is refused in words, nothing changes.
    assert "不是待确认拦截" in raw_refund_confirm_interception(
        slip.order_line_id, succeeded=True, by="仓库甲"
    )


def test_shipped_order_is_flagged_for_cs():
    slip = slip_on(OrderStatus.SHIPPED)
    raw_refund_intercept([slip.pk])
    slip.refresh_from_db()
    assert slip.attention == "拦截失败：订单已发货"
    assert slip.order_line.interception_status == InterceptionStatus.FAILED
    assert not slip.order_line.is_cancelled


def test_only_refund_only_applied_slips_intercept():
    returned = slip_on(OrderStatus.AWAITING_CS_REVIEW, refund_type=RefundType.RETURN)
    withdrawn = slip_on(OrderStatus.AWAITING_CS_REVIEW, platform_status=PlatformStatus.CANCELLED)
    assert raw_refund_intercept([returned.pk, withdrawn.pk]) == 0


def test_sync_intercepts_new_refund_only_slips(sandbox, jd):
    from .sa_sync.test_platform_sync import jd_order, jd_refund

    sandbox.seed_orders(jd.app_key, [jd_order(810000000001), jd_order(810000000002)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    jd.orders.filter(tid="810000000002").update(status=OrderStatus.IN_WAREHOUSE)
    # Each application refunds the whole line (2 of 2).
    whole = [jd_refund(1, 810000000001), jd_refund(2, 810000000002)]
    for application in whole:
        application["skuVoList"][0]["skuCount"] = 2
    sandbox.seed_refunds(jd.app_key, whole)
    shop_sync(jd, kind=SyncKind.REFUNDS)
    first = jd.raw_refunds.get(refund_no="1")
    second = jd.raw_refunds.get(refund_no="2")
    assert first.order_line.is_cancelled and first.order.status == OrderStatus.CANCELLED
    assert second.order_line.interception_status == InterceptionStatus.PENDING


def test_warehouse_confirms_from_its_list_and_cs_then_writes_back(
    client, sandbox, jd, warehouse_user, cs_user
):
    line = OrderLineFactory(order=OrderFactory(shop=jd, status=OrderStatus.IN_WAREHOUSE))
    slip = RawRefundFactory(order_line=line)
    seed_applications(sandbox, [slip])
    raw_refund_intercept([slip.pk])

    client.login(username=warehouse_user.username, password=PASSWORD)
    url = reverse("admin:orders_pendinginterception_changelist")
    page = client.get(url).content.decode()
    assert line.oid in page and slip.refund_no in page and "确认拦截成功" in page
    response = client.post(
        url, {"action": "confirm_succeeded", "_selected_action": [line.pk], "index": 0}, follow=True
    )
    assert "已确认拦截成功" in response.content.decode()
    assert line.oid not in client.get(url).content.decode()

    assert refund_writeback([slip.pk], by=cs_user)[0].succeeded
    slip.refresh_from_db()
    assert slip.writeback_status == WritebackStatus.SUCCEEDED


def test_cs_cannot_confirm_interceptions(client, cs_user):
    slip = slip_on(OrderStatus.IN_WAREHOUSE)
    raw_refund_intercept([slip.pk])
    client.login(username=cs_user.username, password=PASSWORD)
    url = reverse("admin:orders_pendinginterception_changelist")
    page = client.get(url)
    assert page.status_code == 200 and "确认拦截成功" not in page.content.decode()
    client.post(url, {"action": "confirm_succeeded", "_selected_action": [slip.order_line_id], "index": 0})
    slip.order_line.refresh_from_db()
    assert slip.order_line.interception_status == InterceptionStatus.PENDING


def test_unpaid_order_is_cancelled_too_but_a_cancelled_one_is_left_alone():
    unpaid = slip_on(OrderStatus.AWAITING_PAYMENT)
    cancelled = slip_on(OrderStatus.CANCELLED)
    assert raw_refund_intercept([unpaid.pk, cancelled.pk]) == 1
    unpaid.order_line.refresh_from_db()
    assert unpaid.order_line.is_cancelled


def locked_tables(queries):
    """The tables of `SELECT … FOR UPDATE` statements, in the order they were taken."""
    order = []
    for query in queries:
        sql = query["sql"]
        if "FOR UPDATE" in sql:
            table = sql.split(" FROM ", 1)[1].split()[0].strip('"')
            if table not in order:
                order.append(table)
    return order


@pytest.mark.postgres
def test_interception_and_the_warehouse_answer_lock_in_the_same_order():
    """Orders, then lines, then slips, for both verbs: two of them can never wait on each other
    crosswise (the warehouse's answer used to lock line → order → slips, the sync slip → line → order)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    slip = slip_on(OrderStatus.IN_WAREHOUSE)
    with CaptureQueriesContext(connection) as intercepting:
        raw_refund_intercept([slip.pk])
    with CaptureQueriesContext(connection) as confirming:
        raw_refund_confirm_interception(slip.order_line_id, succeeded=True, by="仓库甲")
    expected = ["orders_order", "orders_orderline", "refunds_rawrefund"]
    assert locked_tables(intercepting.captured_queries) == expected
    assert locked_tables(confirming.captured_queries) == expected


def test_a_partial_refund_stops_only_the_refunded_quantity():
    """1 of 3 running shoes refunded before shipment: 1 is stopped, the other 2 still ship."""
    order = OrderFactory(status=OrderStatus.AWAITING_CS_REVIEW)
    line = OrderLineFactory(order=order, num=3)
    slip = RawRefundFactory(order_line=line, num=1)
    assert raw_refund_intercept([slip.pk]) == 1
    line.refresh_from_db()
    order.refresh_from_db()
    assert line.interception_status == InterceptionStatus.SUCCEEDED and line.intercept_num == 1
    assert not line.is_cancelled and order.status == OrderStatus.AWAITING_CS_REVIEW
    assert "1/3 件" in events_for(line).get(field="interception_status").reason
    assert slip.writeback_refusal() is None


def test_the_warehouse_stops_only_the_refunded_quantity_too():
    order = OrderFactory(status=OrderStatus.IN_WAREHOUSE)
    line = OrderLineFactory(order=order, num=3)
    slip = RawRefundFactory(order_line=line, num=2)
    raw_refund_intercept([slip.pk])
    raw_refund_confirm_interception(line.pk, succeeded=True, by="仓库甲")
    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.intercept_num, line.is_cancelled, order.status) == (2, False, OrderStatus.IN_WAREHOUSE)


def test_a_page_of_slips_is_intercepted_as_a_set():
    """A downloaded page's refund-only slips on orders in every state, two slips on one line, an order
    all of whose lines are stopped: each line gets the decision its order allows, once."""
    reviewing = slip_on(OrderStatus.AWAITING_CS_REVIEW)  # its only line: the order is cancelled
    kept = slip_on(OrderStatus.AWAITING_CS_REVIEW, lines=2)  # the other line keeps the order
    warehouse = slip_on(OrderStatus.IN_WAREHOUSE)
    shipped = slip_on(OrderStatus.SHIPPED)
    second = RawRefundFactory(order_line=warehouse.order_line, num=1)  # the line is handled already
    slips = [reviewing, kept, warehouse, shipped, second]
    assert raw_refund_intercept([s.pk for s in slips]) == 4
    for slip in slips:
        slip.refresh_from_db()
        slip.order_line.refresh_from_db()
        slip.order.refresh_from_db()
    assert [s.order_line.interception_status for s in slips[:4]] == [
        InterceptionStatus.SUCCEEDED,
        InterceptionStatus.SUCCEEDED,
        InterceptionStatus.PENDING,
        InterceptionStatus.FAILED,
    ]
    assert [s.attention for s in slips] == ["", "", "拦截中，待仓库确认", "拦截失败：订单已发货", ""]
    assert (reviewing.order.status, kept.order.status) == (
        OrderStatus.CANCELLED,
        OrderStatus.AWAITING_CS_REVIEW,
    )
    assert events_for(warehouse.order_line).filter(field="interception_status").count() == 1
    assert f"退款单 {warehouse.refund_no}" in events_for(warehouse.order_line).get().reason


def test_interception_costs_the_same_queries_for_a_page_as_for_two_slips():
    """One query per step for the set, not per slip (a page of 25 refund-only slips used to cost
    ~7 round trips each)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(count):
        slips = [slip_on(OrderStatus.IN_WAREHOUSE, lines=2) for _ in range(count)]
        with CaptureQueriesContext(connection) as captured:
            assert raw_refund_intercept([s.pk for s in slips]) == count
        return len(captured.captured_queries)

    queries_for(1)  # warms the caches a first event fills (its content type)
    assert queries_for(2) == queries_for(25)


def test_a_refund_of_several_skus_is_flagged_for_a_person_and_written_back_only_once_cancelled(sandbox, jd):
    """JD's 取消订单 of two goods (skuVoList of two SKUs): one slip, no line intercepted by itself, CS
    see why; 取消发货成功 waits until the order is cancelled, then goes once."""
    from .sa_sync.test_platform_sync import jd_order, jd_refund

    skus = ("100000000001", "100000000002")
    sandbox.seed_orders(jd.app_key, [jd_order(810000000009, skus=skus)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    application = jd_refund(9, 810000000009)
    application["skuVoList"] = [{"skuId": sku, "skuCount": 2} for sku in skus]
    sandbox.seed_refunds(jd.app_key, [application])
    shop_sync(jd, kind=SyncKind.REFUNDS)

    slip = jd.raw_refunds.get(refund_no="9")
    assert (slip.oid, slip.order_line, slip.num) == ("", None, 4)
    assert slip.needs_manual_interception and slip.attention == "多个商品的退款申请，请人工拦截"
    order = slip.order
    assert order.status == OrderStatus.AWAITING_CS_REVIEW
    assert not order.lines.filter(is_cancelled=True).exists()  # nothing intercepted by itself

    [refused] = refund_writeback([slip.pk], by="客服")
    assert not refused.succeeded and "需人工拦截" in refused.message
    writebacks = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
    assert sandbox.calls(method=writebacks) == []

    order.status = OrderStatus.CANCELLED  # CS stopped the whole order
    order.save(update_fields=["status"])
    [sent] = refund_writeback([slip.pk], by="客服")
    assert sent.succeeded
    assert [c["params"] for c in sandbox.calls(method=writebacks)] == [
        {"orderId": 810000000009, "refId": 9, "status": 1}
    ]
    shop_sync(jd, kind=SyncKind.REFUNDS)  # a later sync keeps the flag and the state
    slip.refresh_from_db()
    assert slip.attention == "多个商品的退款申请，请人工拦截"
    assert slip.writeback_status == WritebackStatus.SUCCEEDED
