"""Bulk push of raw refund slips and orders: all or nothing, every bad item listed by index and
field, idempotent by `modified`, per-item results, events with the key's name."""

from decimal import Decimal

import pytest

from core.audit import events_for
from orders.models import InterceptionStatus, Order, OrderLine, OrderStatus
from refunds.models import PlatformStatus, RawRefund, WritebackStatus
from tests.factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db

REFUNDS = "/api/v1/raw-refunds/"
ORDERS = "/api/v1/orders/"


def refund(n=1, **extra):
    return {
        "refund_no": f"8{n:09d}",
        "tid": f"3{n:09d}",
        "oid": f"3{n:09d}-1",
        "refund_type": 1,
        "platform_status": 2,
        "refund_amount": "12.30",
        "num": 1,
        "modified": "2026-11-28T10:00:00+08:00",
        **extra,
    }


def order(n=1, **extra):
    return {
        "tid": f"3{n:09d}",
        "status": 30,
        "paid": "99.00",
        "modified": "2026-11-28T09:00:00+08:00",
        "lines": [
            {"oid": f"3{n:09d}-1", "goods_name": "跑步鞋", "num": 1, "price": "99.00", "paid": "99.00"}
        ],
        **extra,
    }


def test_push_creates_and_reports_per_item(api, shop_key):
    shop = shop_key[0]
    response = api.post(REFUNDS, {"items": [refund(1), refund(2)]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["created"] == 2 and [r["result"] for r in body["results"]] == ["created", "created"]
    slip = RawRefund.objects.get(shop=shop, refund_no="8000000001")
    assert slip.refund_amount == Decimal("12.30")
    assert body["results"][0] == {"index": 0, "key": "8000000001", "result": "created", "message": "已新建"}
    assert slip.writeback_status == WritebackStatus.NOT_SENT
    [event] = list(events_for(slip))
    assert event.actor_name == "API：wms" and event.action == "接口推送新建"
    # stored through the sync's ingest home: the platform object it stands for is named as the sync's
    assert (slip.platform_object, slip.platform_id) == ("refund_apply", "8000000001")


def test_same_payload_twice_changes_nothing(api):
    items = {"items": [refund(1)]}
    api.post(REFUNDS, items, format="json")
    slip = RawRefund.objects.get(refund_no="8000000001")
    before = (slip.updated_at, events_for(slip).count())
    body = api.post(REFUNDS, items, format="json").json()
    assert body["unchanged"] == 1 and body["results"][0]["result"] == "unchanged"
    slip.refresh_from_db()
    assert (slip.updated_at, events_for(slip).count()) == before


def test_newer_updates_older_is_ignored_and_said_so(api):
    api.post(REFUNDS, {"items": [refund(1)]}, format="json")
    newer = refund(1, platform_status=5, modified="2026-11-28T11:00:00+08:00")
    body = api.post(REFUNDS, {"items": [newer]}, format="json").json()
    assert body["results"][0]["result"] == "updated"
    slip = RawRefund.objects.get(refund_no="8000000001")
    assert slip.platform_status == PlatformStatus.REFUNDED
    event = events_for(slip).first()
    assert (event.from_state, event.to_state, event.actor_name) == ("申请退款", "退款成功", "API：wms")
    older = refund(1, platform_status=1, modified="2026-11-28T10:30:00+08:00")
    body = api.post(REFUNDS, {"items": [older]}, format="json").json()
    assert body["results"][0]["result"] == "ignored_older"
    assert "已忽略" in body["results"][0]["message"]
    slip.refresh_from_db()
    assert slip.platform_status == PlatformStatus.REFUNDED


def test_one_bad_item_writes_nothing_and_every_error_is_listed(api):
    items = [
        refund(1),
        refund(2, refund_amount=12.3),  # a number, not a decimal string
        refund(3, refund_type=9, surprise="x"),
        refund(4, modified="yesterday"),
        refund(1),  # the same refund_no again
    ]
    response = api.post(REFUNDS, {"items": items}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    found = {(e["index"], e["field"]) for e in body["errors"]}
    assert {(1, "refund_amount"), (2, "refund_type"), (2, "surprise"), (4 - 1, "modified")} <= found
    assert all(set(e) == {"index", "field", "message"} for e in body["errors"])
    assert not RawRefund.objects.exists()
    # The duplicate is named once the items themselves are valid: a rule on the data, 422.
    response = api.post(REFUNDS, {"items": [refund(1), refund(1)]}, format="json")
    assert response.status_code == 422 and response.json()["code"] == "rule_violation"
    assert response.json()["errors"] == [
        {"index": 1, "field": "refund_no", "message": "与第 0 条重复：同一请求中 refund_no 不能重复"}
    ]
    assert not RawRefund.objects.exists()


def test_item_count_and_body_shape_limits(api, settings):
    too_many = {"items": [refund(i) for i in range(501)]}
    response = api.post(REFUNDS, too_many, format="json")
    assert response.status_code == 400 and "一次最多 500 条" in response.json()["errors"][0]["message"]
    for body in ([], {"items": []}, {"items": "x"}, {"items": [refund(1)], "extra": 1}):
        response = api.post(REFUNDS, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"]
    response = api.post(REFUNDS, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["message"] == "请求体不是有效的 JSON"
    settings.API_MAX_BODY_BYTES = 1000
    response = api.post(REFUNDS, {"items": [refund(i) for i in range(20)]}, format="json")
    assert response.status_code == 413
    assert (
        response.json()["code"] == "payload_too_large" and "超过上限 1000 字节" in response.json()["message"]
    )


def test_nul_and_overlong_text_are_400_not_500(api):
    items = [refund(1, reason="a\x00b"), refund(2, buyer_nick="x" * 129), refund(3, refund_no="1" * 65)]
    response = api.post(REFUNDS, {"items": items}, format="json")
    assert response.status_code == 400
    assert {(e["index"], e["field"]) for e in response.json()["errors"]} == {
        (0, "reason"),
        (1, "buyer_nick"),
        (2, "refund_no"),
    }


def test_refund_only_slip_on_a_known_line_intercepts_like_the_sync(api, shop_key):
    shop = shop_key[0]
    line = OrderLineFactory(order=OrderFactory(shop=shop, status=OrderStatus.AWAITING_CS_REVIEW), num=1)
    item = refund(1, tid=line.order.tid, oid=line.oid)
    assert api.post(REFUNDS, {"items": [item]}, format="json").status_code == 200
    slip = RawRefund.objects.get(refund_no=item["refund_no"])
    assert slip.order_line_id == line.pk
    line.refresh_from_db()
    assert line.interception_status == InterceptionStatus.SUCCEEDED


def test_orders_push_creates_lines_links_refunds_and_never_moves_back(api, shop_key):
    shop = shop_key[0]
    api.post(REFUNDS, {"items": [refund(1, refund_type=2, platform_status=4)]}, format="json")
    response = api.post(ORDERS, {"items": [order(1)]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["results"][0]["result"] == "created"
    created = Order.objects.get(shop=shop, tid="3000000001")
    assert created.lines.get().oid == "3000000001-1"
    slip = RawRefund.objects.get(refund_no="8000000001")
    assert (slip.order_id, slip.order_line_id) == (created.pk, created.lines.get().pk)
    # Shipped, then an older status with a newer modified: the order never moves back.
    api.post(ORDERS, {"items": [order(1, status=95, modified="2026-11-28T12:00:00+08:00")]}, format="json")
    body = api.post(
        ORDERS, {"items": [order(1, status=30, modified="2026-11-28T13:00:00+08:00")]}, format="json"
    ).json()
    created.refresh_from_db()
    assert created.status == OrderStatus.SHIPPED and body["results"][0]["result"] == "updated"
    assert events_for(created).first().actor_name == "API：wms"
    body = api.post(
        ORDERS, {"items": [order(1, status=110, modified="2026-11-28T08:00:00+08:00")]}, format="json"
    ).json()
    assert body["results"][0]["result"] == "ignored_older"


def test_orders_push_refuses_a_line_that_belongs_to_another_order(api, shop_key):
    shop = shop_key[0]
    other = OrderLineFactory(order=OrderFactory(shop=shop), oid="3000000001-1")
    response = api.post(
        ORDERS, {"items": [order(2, lines=[{"oid": other.oid, "goods_name": "x"}])]}, format="json"
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (0, "lines.0.oid") and other.order.tid in error["message"]
    assert not Order.objects.filter(tid="3000000002").exists()
    response = api.post(
        ORDERS,
        {"items": [order(3, lines=[{"oid": "a", "goods_name": "x"}, {"oid": "a", "goods_name": "y"}])]},
        format="json",
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "lines"
    assert OrderLine.objects.count() == 1


def test_same_refund_no_in_two_shops_are_two_slips(api, other_api):
    api.post(REFUNDS, {"items": [refund(1)]}, format="json")
    body = other_api.post(REFUNDS, {"items": [refund(1, refund_amount="1.00")]}, format="json").json()
    assert body["results"][0]["result"] == "created"
    assert RawRefund.objects.filter(refund_no="8000000001").count() == 2


def test_list_filters_and_cursor_pagination(api, shop_key):
    api.post(
        REFUNDS, {"items": [refund(i, refund_type=1 if i % 2 else 2) for i in range(1, 8)]}, format="json"
    )
    RawRefundFactory()  # another shop's slip
    page = api.get(REFUNDS, {"page_size": 3}).json()
    assert len(page["results"]) == 3 and page["next"]
    seen = [r["refund_no"] for r in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [r["refund_no"] for r in page["results"]]
    assert sorted(seen) == sorted(f"8{i:09d}" for i in range(1, 8))
    only = api.get(REFUNDS, {"refund_no": "8000000001,8000000003", "refund_type": 1}).json()["results"]
    assert {r["refund_no"] for r in only} == {"8000000001", "8000000003"}
    assert (
        api.get(REFUNDS, {"tid": "3000000002", "writeback_status": 0}).json()["results"][0]["refund_no"]
        == "8000000002"
    )
    assert api.get(REFUNDS, {"modified_after": "2026-11-29T00:00:00+08:00"}).json()["results"] == []
    for bad in ({"refund_type": "x"}, {"page_size": 0}, {"apply_time_after": "soon"}, {"refund_type": ""}):
        response = api.get(REFUNDS, bad)
        assert response.status_code == 400, bad
        assert response.json()["code"] == "validation_error"
    # Any string is a cursor by the schema; one that is not from a next/previous link breaks a rule.
    assert api.get(REFUNDS, {"cursor": "garbage"}).status_code == 422
    detail = api.get(f"{REFUNDS}8000000001/").json()
    assert detail["refund_amount"] == "12.30" and detail["refund_type_label"] == "退款"
    assert detail["refund_no"] == "8000000001" and "id" not in detail


def test_odd_times_and_nul_in_queries_are_answered_not_500(api):
    """Found by schemathesis on PostgreSQL: offsets beyond ±15:59 and NUL reach the database."""
    odd = "0164-04-05T15:25:19+21:40"
    response = api.post(REFUNDS, {"items": [refund(1, apply_time=odd, modified=odd)]}, format="json")
    assert response.status_code == 200, response.json()
    assert api.get(REFUNDS, {"modified_after": odd}).status_code == 200
    assert api.get(ORDERS, {"trade_time_before": "0269-05-22T21:41:37.630000-23:47"}).status_code == 200
    response = api.get(ORDERS, {"tid": "a\x00b"})
    assert response.status_code == 422 and response.json()["errors"][0]["message"] == "含有空字符"
    assert api.get(f"{ORDERS}a%00b/").status_code == 404
