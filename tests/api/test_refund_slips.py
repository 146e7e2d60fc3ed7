"""Refund slips over the API: create (three ways), list and read, review at the key's level, reject,
confirm a refund; the order's refund quote; promotions in order pushes; refund-slip webhooks. Shop
isolation on every new endpoint."""

import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from api.filters import refund_slip_pk
from api.keys import api_key_create
from api.models import ApiKey
from api.webhooks import SIGNATURE_HEADER, webhook_deliver_due
from core.audit import events_for
from orders.models import Order, OrderPromotion, OrderStatus
from refund_slips.models import RefundSlip, RefundSlipStatus, RefundStrategy, ShopRefundSettings
from refund_slips.services import RefundSlipRefused, refund_slip_approve, refund_slip_create
from refunds.models import PlatformStatus, RawRefund, RefundType
from returns.services import return_inbound_audit, return_slip_create, return_slip_transition
from tests.factories import OrderFactory, OrderLineFactory, RawRefundFactory, ShopFactory

from .conftest import client_for
from .test_webhooks import SECRET, Receiver, subscribe

pytestmark = pytest.mark.django_db
D = Decimal
URL = "/api/v1/refund-slips/"


def abc_order(shop, *, status=OrderStatus.COMPLETED):
    """A 100, B 60, C 40 with 满150减20 over all three: 180.00 paid."""
    order = OrderFactory(shop=shop, status=status, paid=D("180.00"), post_amount=D("0.00"))
    lines = [
        OrderLineFactory(order=order, goods_name=name, num=1, price=D(price), paid=D(price))
        for name, price in (("A", "100.00"), ("B", "60.00"), ("C", "40.00"))
    ]
    OrderPromotion.objects.create(
        order=order, name="满减优惠", threshold=D("150"), discount=D("20"), oids=[x.oid for x in lines]
    )
    return order, lines


def limits(shop, **values):
    ShopRefundSettings.objects.update_or_create(shop=shop, defaults=values)


def key_with_level(shop, name, level):
    key, raw = api_key_create(shop=shop, name=name, by="测试", review_level=level)
    return client_for(raw)


def fields(response):
    return {(e["index"], e["field"]) for e in response.json()["errors"]}


# --- quote ---------------------------------------------------------------------------------------
def test_quote_gives_amount_and_arithmetic_and_creates_nothing(api, shop_key):
    order, (a, b, c) = abc_order(shop_key[0])
    url = f"/api/v1/orders/{order.tid}/refund-quote/"
    response = api.post(url, {"lines": {a.oid: 1}}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["amount"] == "90.00" and body["strategy"] == "proportional" and body["refusal"] is None
    assert body["lines"] == [{"oid": a.oid, "amount": "90.00"}]
    assert body["steps"] and body["text"] == "\n".join(body["steps"]) and "满减" in body["text"]
    recompute = api.post(url, {"lines": {a.oid: 1}, "strategy": "recompute"}, format="json").json()
    assert recompute["amount"] == "80.00" and recompute["strategy"] == "recompute"
    whole = api.post(url, {"whole_order": True}, format="json").json()
    assert whole["amount"] == "180.00" and whole["whole_order"] is True
    assert not RefundSlip.objects.exists()


def test_quote_says_why_a_good_cannot_be_refunded_alone(api, shop_key):
    shop = shop_key[0]
    limits(shop, strategy=RefundStrategy.RECOMPUTE)
    order = OrderFactory(shop=shop, status=OrderStatus.COMPLETED, paid=D("50.00"))
    a = OrderLineFactory(order=order, num=1, price=D("60"), paid=D("60.00"))
    b = OrderLineFactory(order=order, num=1, price=D("40"), paid=D("40.00"))
    OrderPromotion.objects.create(order=order, threshold=D("100"), discount=D("50"), oids=[a.oid, b.oid])
    body = api.post(f"/api/v1/orders/{order.tid}/refund-quote/", {"lines": {b.oid: 1}}, format="json").json()
    assert "不能单独退此商品" in body["refusal"]


def test_quote_bad_input_names_the_field(api, shop_key):
    order, (a, *_) = abc_order(shop_key[0])
    url = f"/api/v1/orders/{order.tid}/refund-quote/"
    # Well formed but not this order's line, or both ways at once: rules on the data (422).
    unknown = api.post(url, {"lines": {"nope": 1}}, format="json")
    assert unknown.status_code == 422 and fields(unknown) == {(None, "lines.nope")}
    assert "没有子订单 nope" in unknown.json()["errors"][0]["message"]
    both = api.post(url, {"lines": {a.oid: 1}, "whole_order": True}, format="json")
    assert both.status_code == 422
    # Not what the schema allows: 400.
    zero = api.post(url, {"lines": {a.oid: 0}}, format="json")
    assert zero.status_code == 400 and fields(zero) == {(None, f"lines.{a.oid}")}
    many = api.post(url, {"lines": {f"x{n}": 1 for n in range(201)}}, format="json")
    assert many.status_code == 400 and fields(many) == {(None, "lines")}
    assert "最多 200 个子订单" in many.json()["errors"][0]["message"]
    strategy = api.post(url, {"whole_order": True, "strategy": "cheapest"}, format="json")
    assert strategy.status_code == 400 and fields(strategy) == {(None, "strategy")}


# --- create, list, read --------------------------------------------------------------------------
def test_create_by_hand_lines_whole_order_and_compensation(api, shop_key):
    shop = shop_key[0]
    order, (a, b, c) = abc_order(shop)
    response = api.post(URL, {"tid": order.tid, "lines": {a.oid: 1}, "reason": "少件"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == 10 and body["status_label"] == "待审核" and body["source"] == "manual"
    assert body["amount"] == "90.00" and body["tid"] == order.tid and body["reason"] == "少件"
    assert body["lines"] == [{"oid": a.oid, "goods_name": "A", "quantity": 1, "amount": "90.00"}]
    slip = RefundSlip.objects.get(pk=refund_slip_pk(body["number"]))
    assert slip.created_by_name == "API：wms" and "id" not in body
    assert events_for(slip).filter(action="创建退款单", actor_name="API：wms").exists()
    # A held line is refused with the service's message.
    again = api.post(URL, {"tid": order.tid, "lines": {a.oid: 1}}, format="json")
    assert again.status_code == 409 and f"已有退款单 {slip.number}" in again.json()["message"]
    assert RefundSlip.objects.count() == 1

    other, _ = abc_order(shop)
    whole = api.post(URL, {"tid": other.tid, "whole_order": True}, format="json").json()
    assert whole["amount"] == "180.00" and whole["whole_order"] is True and len(whole["lines"]) == 3
    paid, _ = abc_order(shop)
    comp = api.post(
        URL, {"tid": paid.tid, "compensation": {"amount": "5.00", "reason": "超时赔付"}}, format="json"
    ).json()
    assert comp["amount"] == "5.00" and comp["computed_amount"] == "0.00" and comp["lines"] == []
    assert comp["adjustments"][0]["kind_label"] == "补偿" and comp["adjustments"][0]["reason"] == "超时赔付"


def test_create_from_raw_refund_and_from_a_return_slip(api, shop_key, cs_user, warehouse_user):
    shop = shop_key[0]
    order, (a, b, c) = abc_order(shop)
    raw = RawRefundFactory(
        order_line=b, refund_type=RefundType.REFUND, platform_status=PlatformStatus.APPLIED
    )
    body = api.post(URL, {"raw_refund_no": raw.refund_no}, format="json").json()
    assert body["source"] == "raw_refund" and body["raw_refund_no"] == raw.refund_no
    assert body["follows_platform"] is True and body["amount"] == "54.00"
    # Repeating the request does not make a second slip.
    assert api.post(URL, {"raw_refund_no": raw.refund_no}, format="json").status_code == 409
    assert RefundSlip.objects.filter(raw_refund=raw).count() == 1

    returned = return_slip_create(order=order, lines={c.pk: 1}, by=cs_user)
    early = api.post(URL, {"return_slip_number": returned.number}, format="json")
    assert early.status_code == 409 and "入库完成后才能建退款单" in early.json()["message"]
    return_slip_transition(returned.pk, "approve", by=cs_user)
    return_inbound_audit(returned.pk, by=warehouse_user, received={returned.lines.get().pk: (1, 0)})
    from_return = api.post(URL, {"return_slip_number": returned.number}, format="json").json()
    assert from_return["source"] == "return_slip" and from_return["return_slip_number"] == returned.number
    assert from_return["amount"] == "36.00"


def test_create_bad_input_names_the_field(api, shop_key):
    order, (a, *_) = abc_order(shop_key[0])
    # 400: not what the schema allows; 422: allowed, but a rule on the data refuses it.
    cases = [
        ({}, "", 422),
        ({"tid": order.tid, "raw_refund_no": "1"}, "", 422),
        ({"tid": order.tid}, "lines", 422),
        ({"tid": order.tid, "lines": {a.oid: 1}, "whole_order": True}, "whole_order", 422),
        ({"raw_refund_no": "1", "lines": {a.oid: 1}}, "lines", 422),
        ({"tid": order.tid, "lines": {"x": 1}}, "lines.x", 422),
        ({"tid": order.tid, "compensation": {"amount": 5, "reason": "超时"}}, "compensation.amount", 400),
        ({"tid": order.tid, "compensation": {"amount": "-5", "reason": "超时"}}, "compensation.amount", 400),
        (
            {"tid": order.tid, "compensation": {"amount": "0.00", "reason": "超时"}},
            "compensation.amount",
            422,
        ),
        ({"tid": order.tid, "compensation": {"amount": "5.00"}}, "compensation.reason", 400),
        ({"tid": "nope", "whole_order": True}, "tid", 422),
        ({"raw_refund_no": "nope"}, "raw_refund_no", 422),
        ({"return_slip_number": "TH99999999"}, "return_slip_number", 422),
        ({"return_slip_number": "99999999"}, "return_slip_number", 400),
        ({"return_slip_id": 1}, "return_slip_id", 400),
        ({"tid": order.tid, "whole_order": True, "colour": "red"}, "colour", 400),
        ({"tid": order.tid, "whole_order": "true"}, "whole_order", 400),
    ]
    for body, field, status in cases:
        response = api.post(URL, body, format="json")
        assert response.status_code == status, (body, response.json())
        assert (None, field) in fields(response), (body, response.json())
    assert not RefundSlip.objects.exists()


def test_list_filters_cursor_and_read(api, shop_key):
    shop = shop_key[0]
    slips = []
    for _ in range(3):
        order, lines = abc_order(shop)
        slips.append(refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by="API：wms"))
    RefundSlip.objects.filter(pk=slips[0].pk).update(attention="描述像换货（“换个”），类型为退货")
    limits(shop, level1_limit=D("500"))
    refund_slip_approve(slips[1].pk, by="API：wms", level=1)
    numbers = [slip.number for slip in slips]

    def listed(params):
        return [r["number"] for r in api.get(URL, params).json()["results"]]

    page = api.get(URL, {"page_size": 2}).json()
    assert [r["number"] for r in page["results"]] == [numbers[2], numbers[1]] and page["next"]
    rest = api.get(page["next"]).json()
    assert [r["number"] for r in rest["results"]] == [numbers[0]]
    assert listed({"status": 20}) == [numbers[1]]
    assert listed({"attention": "true"}) == [numbers[0]]
    assert len(listed({"attention": "false"})) == 2
    assert api.get(URL, {"attention": "yes"}).status_code == 400
    tids = f"{slips[0].order.tid},{slips[2].order.tid}"
    assert set(listed({"tid": tids})) == {numbers[0], numbers[2]}
    assert set(listed({"tid": [slips[0].order.tid, slips[2].order.tid]})) == {numbers[0], numbers[2]}
    assert set(listed({"number": [numbers[0], f"{numbers[1]},{numbers[2]}"]})) == set(numbers)
    assert api.get(URL, {"number": "12"}).status_code == 400
    assert len(listed({"source": "manual"})) == 3
    assert listed({"source": "raw_refund"}) == []
    after = slips[1].created_at.isoformat()
    assert set(listed({"created_after": after})) == {numbers[1], numbers[2]}
    assert api.get(URL, {"status": "99"}).status_code == 400
    one = api.get(f"{URL}{slips[1].number}/").json()
    assert one["number"] == slips[1].number and one["level1_by_name"] == "API：wms"
    assert one["status_label"] == "待退款" and one["quote"]


# --- review --------------------------------------------------------------------------------------
def test_approve_at_the_keys_level_and_never_twice_by_one_key(shop_key, api):
    shop = shop_key[0]
    limits(shop, level1_limit=D("50.00"))
    order, (a, b, c) = abc_order(shop)
    small = refund_slip_create(order_id=order.pk, lines={c.pk: 1}, by="测试")  # 36.00
    big = refund_slip_create(order_id=order.pk, lines={a.pk: 1}, by="测试")  # 90.00

    refused = api.post(f"{URL}{small.number}/approve/")  # the fixture's key: level 0
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert "没有退款单审核级别" in refused.json()["message"]
    assert RefundSlip.objects.get(pk=small.pk).status == RefundSlipStatus.PENDING_REVIEW

    cs = key_with_level(shop, "cs-bot", 1)
    finance = key_with_level(shop, "fin-bot", 2)
    # A level-2 key does not give the first approval (like 财务).
    wrong = finance.post(f"{URL}{small.number}/approve/")
    assert wrong.status_code == 409 and "没有一级审核（客服）权限" in wrong.json()["message"]
    done = cs.post(f"{URL}{small.number}/approve/").json()
    assert done["refund_slip"]["status_label"] == "待退款" and "审核通过，待退款" in done["message"]
    assert cs.post(f"{URL}{small.number}/approve/").status_code == 409  # once only

    first = cs.post(f"{URL}{big.number}/approve/").json()
    assert "待财务二级审核" in first["message"] and first["refund_slip"]["awaiting_level2"] is True
    assert cs.post(f"{URL}{big.number}/approve/").status_code == 409  # level 1 cannot give level 2
    # Even raised to level 2, the key that gave the first approval cannot give the second.
    ApiKey.objects.filter(name="cs-bot").update(review_level=2)
    same = cs.post(f"{URL}{big.number}/approve/")
    assert same.status_code == 409 and "不能再做二级审核" in same.json()["message"]
    second = finance.post(f"{URL}{big.number}/approve/").json()
    slip = second["refund_slip"]
    assert slip["status_label"] == "待退款" and slip["level1_by_name"] == "API：cs-bot"
    assert slip["level2_by_name"] == "API：fin-bot"


def test_service_level_for_non_user_actors(db):
    order, (a, b, c) = abc_order(ShopFactory())
    slip = refund_slip_create(order_id=order.pk, lines={c.pk: 1}, by="测试")
    for level in (None, 0):
        with pytest.raises(RefundSlipRefused, match="审核须由登录用户操作"):
            refund_slip_approve(slip.pk, by="API：x", level=level)
    assert (
        refund_slip_approve(slip.pk, by="API：x", level=1).refund_slip.status
        == RefundSlipStatus.AWAITING_REFUND
    )


def test_reject_needs_a_reason(api, shop_key):
    order, (a, *_) = abc_order(shop_key[0])
    slip = refund_slip_create(order_id=order.pk, lines={a.pk: 1}, by="测试")
    missing = api.post(f"{URL}{slip.number}/reject/", {}, format="json")
    assert missing.status_code == 400 and fields(missing) == {(None, "reason")}
    for reason in ("", "  \u3000"):  # the schema's pattern asks for something else than white space
        blank = api.post(f"{URL}{slip.number}/reject/", {"reason": reason}, format="json")
        assert blank.status_code == 400 and fields(blank) == {(None, "reason")}
    body = api.post(f"{URL}{slip.number}/reject/", {"reason": "买家撤回"}, format="json").json()
    assert body["status_label"] == "驳回"
    assert events_for(slip).filter(to_state="驳回", reason="买家撤回", actor_name="API：wms").exists()
    assert api.post(f"{URL}{slip.number}/reject/", {"reason": "再驳"}, format="json").status_code == 409
    # The line is free again.
    assert api.post(URL, {"tid": order.tid, "lines": {a.oid: 1}}, format="json").status_code == 201


def test_mark_refunded_for_own_channels_only(api, shop_key):
    shop = shop_key[0]
    limits(shop, level1_limit=D("500"))
    order, (a, b, c) = abc_order(shop)
    slip = refund_slip_create(order_id=order.pk, lines={a.pk: 1}, by="测试")
    pending = api.post(f"{URL}{slip.number}/mark-refunded/", {}, format="json")
    assert pending.status_code == 409 and "只有待退款的退款单" in pending.json()["message"]
    refund_slip_approve(slip.pk, by="API：cs", level=1)
    number = api.post(f"{URL}{slip.number}/mark-refunded/", {"amount": 88}, format="json")
    assert number.status_code == 400 and fields(number) == {(None, "amount")}
    body = api.post(f"{URL}{slip.number}/mark-refunded/", {"amount": "88.00"}, format="json").json()
    assert body["status_label"] == "退款完成" and body["refunded_by_name"] == "API：wms"
    assert body["platform_refund_amount"] == "88.00" and "相差 -2.00 元" in body["amount_difference"]
    assert api.post(f"{URL}{slip.number}/mark-refunded/", {}, format="json").status_code == 409

    raw = RawRefundFactory(order_line=b, refund_type=RefundType.REFUND)
    jd_slip = refund_slip_create(raw_refund_id=raw.pk, by="测试")
    refund_slip_approve(jd_slip.pk, by="API：cs", level=1)
    jd = api.post(f"{URL}{jd_slip.number}/mark-refunded/", {}, format="json")
    assert jd.status_code == 409 and "以京东“退款成功”为准" in jd.json()["message"]
    plain = refund_slip_create(order_id=order.pk, lines={c.pk: 1}, by="测试")
    refund_slip_approve(plain.pk, by="API：cs", level=1)
    ok = api.post(f"{URL}{plain.number}/mark-refunded/", {}, format="json").json()
    assert ok["status_label"] == "退款完成" and ok["amount_difference"] == ""


# --- shop isolation ------------------------------------------------------------------------------
def test_another_shops_refund_slip_or_order_is_not_found(shop_key, other_key, api):
    other_shop = other_key[0]
    order, (a, *_) = abc_order(other_shop)
    slip = refund_slip_create(order_id=order.pk, lines={a.pk: 1}, by="测试")
    raw = RawRefundFactory(order_line=order.lines.get(goods_name="B"), refund_type=RefundType.REFUND)
    ApiKey.objects.filter(pk=shop_key[2].pk).update(review_level=1)
    for method, url, body in [
        ("get", f"{URL}{slip.number}/", None),
        ("post", f"{URL}{slip.number}/approve/", None),
        ("post", f"{URL}{slip.number}/reject/", {"reason": "x"}),
        ("post", f"{URL}{slip.number}/mark-refunded/", {}),
        ("post", f"/api/v1/orders/{order.tid}/refund-quote/", {"whole_order": True}),
    ]:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    assert api.get(URL).json()["results"] == []
    # Another shop's order, raw refund slip or return slip named in a new slip: "does not exist".
    for body, field in [
        ({"tid": order.tid, "whole_order": True}, "tid"),
        ({"raw_refund_no": raw.refund_no}, "raw_refund_no"),
    ]:
        response = api.post(URL, body, format="json")
        assert response.status_code == 422 and fields(response) == {(None, field)}
    assert RefundSlip.objects.get().pk == slip.pk and slip.status == RefundSlipStatus.PENDING_REVIEW


# --- keys ----------------------------------------------------------------------------------------
def test_create_api_key_review_level_and_admin_edit(db, client, django_user_model, capsys):
    from django.apps import apps
    from django.contrib.auth.models import Group

    from core.roles import apply_roles
    from tests.conftest import make_user

    shop = ShopFactory()
    call_command("create_api_key", "--shop", shop.shop_no, "--name", "fin", "--review-level", "2")
    key = ApiKey.objects.get(shop=shop, name="fin")
    assert key.review_level == 2
    call_command("create_api_key", "--shop", shop.shop_no, "--name", "plain")
    assert ApiKey.objects.get(shop=shop, name="plain").review_level == 0
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("create_api_key", "--shop", shop.shop_no, "--name", "x", "--review-level", "3")

    if not Group.objects.filter(name="运营").exists():
        apply_roles(apps)
    client.force_login(make_user(django_user_model, "ops_rl", "运营"))
    page = client.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    assert "退款单审核级别" in page and 'name="review_level"' in page
    response = client.post(f"/admin/api/apikey/{key.pk}/change/", {"review_level": "1"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.review_level == 1
    assert events_for(key).filter(action="修改退款单审核级别", from_state="二级审核（同财务）").exists()


# --- webhooks ------------------------------------------------------------------------------------
def test_refund_slip_created_and_approved_reach_a_subscriber_signed(shop_key, api, local_receivers):
    shop = shop_key[0]
    receiver = Receiver()
    try:
        subscribe(shop, receiver.url, events=["refund_slip.changed"])
        order, (a, b, c) = abc_order(shop)
        number = api.post(URL, {"tid": order.tid, "lines": {c.oid: 1}}, format="json").json()["number"]
        key_with_level(shop, "cs-bot", 1).post(f"{URL}{number}/approve/")
        assert webhook_deliver_due() == 2
        documents = []
        for request in receiver.requests:
            expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
            assert request["headers"][SIGNATURE_HEADER] == expected
            documents.append(json.loads(request["body"]))
        assert {d["type"] for d in documents} == {"refund_slip.changed"}
        created, approved = sorted(documents, key=lambda d: d["change"]["to"] != "待审核")
        assert created["change"]["action"] == "创建退款单" and created["change"]["actor"] == "API：wms"
        assert approved["change"]["to"] == "待退款" and approved["change"]["actor"] == "API：cs-bot"
        assert approved["data"]["number"] == number and approved["data"]["amount"] == "36.00"
        assert approved["data"]["tid"] == order.tid and "id" not in approved["data"]
        assert approved["data"]["status"] == RefundSlipStatus.AWAITING_REFUND
    finally:
        receiver.close()


# --- pushes --------------------------------------------------------------------------------------
def pushed_order(tid="3100000001", promotions=None, modified="2026-11-28T09:05:00+08:00"):
    item = {
        "tid": tid,
        "status": 110,
        "paid": "180.00",
        "modified": modified,
        "lines": [
            {"oid": f"{tid}-{n}", "goods_name": name, "num": 1, "price": price, "paid": price}
            for n, (name, price) in enumerate((("A", "100.00"), ("B", "60.00"), ("C", "40.00")))
        ],
    }
    if promotions is not None:
        item["promotions"] = promotions
    return item


def test_order_push_fills_promotions_and_the_quote_uses_them(api, shop_key):
    promotion = {"name": "满150减20", "threshold": "150.00", "discount": "20.00", "oids": []}
    first = api.post("/api/v1/orders/", {"items": [pushed_order(promotions=[promotion])]}, format="json")
    assert first.status_code == 200 and first.json()["created"] == 1, first.json()
    order = Order.objects.get(tid="3100000001")
    [row] = order.promotions.all()
    assert (row.kind, row.name, row.threshold, row.discount, row.oids) == (
        "full_reduction",
        "满150减20",
        D("150.00"),
        D("20.00"),
        [],
    )
    quote = api.post(
        f"/api/v1/orders/{order.tid}/refund-quote/", {"lines": {"3100000001-0": 1}}, format="json"
    )
    assert quote.json()["amount"] == "90.00"
    # The same push again changes nothing; without `promotions` they stay.
    again = api.post("/api/v1/orders/", {"items": [pushed_order(promotions=[promotion])]}, format="json")
    assert again.json()["unchanged"] == 1 and order.promotions.count() == 1
    assert api.post("/api/v1/orders/", {"items": [pushed_order()]}, format="json").json()["unchanged"] == 1
    assert order.promotions.count() == 1
    # New promotions replace the old ones.
    covered = {**promotion, "kind": "coupon", "name": "券", "discount": "10.00", "oids": ["3100000001-0"]}
    changed = api.post("/api/v1/orders/", {"items": [pushed_order(promotions=[covered])]}, format="json")
    assert changed.json()["updated"] == 1
    assert list(order.promotions.values_list("kind", "discount", "oids")) == [
        ("coupon", D("10.00"), ["3100000001-0"])
    ]
    assert events_for(order).filter(reason="订单优惠更新", actor_name="API：wms").exists()
    assert (
        api.post("/api/v1/orders/", {"items": [pushed_order(promotions=[])]}, format="json").json()["updated"]
        == 1
    )
    assert not order.promotions.exists()


def test_order_push_promotion_errors_name_index_and_field(api):
    bad = [
        pushed_order("3100000002"),
        pushed_order("3100000003", promotions=[{"discount": 20}]),
        pushed_order("3100000004", promotions=[{"discount": "20.00", "oids": ["nope"]}]),
    ]
    response = api.post("/api/v1/orders/", {"items": bad}, format="json")
    assert response.status_code == 400
    assert fields(response) == {(1, "promotions.0.discount"), (2, "promotions.0.oids")}
    assert not Order.objects.exists()


def test_pushed_raw_refund_runs_the_keyword_check(api, shop_key, django_capture_on_commit_callbacks):
    shop = shop_key[0]
    order, (a, *_) = abc_order(shop)
    item = {
        "refund_no": "8100000001",
        "tid": order.tid,
        "oid": a.oid,
        "refund_type": RefundType.RETURN,
        "platform_status": 2,
        "description": "鞋码小了，想换个大一码的",
        "refund_amount": "90.00",
        "modified": "2026-11-28T10:00:00+08:00",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/raw-refunds/", {"items": [item]}, format="json")
    assert response.status_code == 200, response.json()
    assert RawRefund.objects.get(refund_no="8100000001").keyword_warning == "描述像换货（“换个”），类型为退货"
    # An unchanged push sends nothing, a changed one checks again.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        api.post("/api/v1/raw-refunds/", {"items": [item]}, format="json")
    assert not callbacks
    item.update(description="不想要了", modified="2026-11-28T11:00:00+08:00")
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/raw-refunds/", {"items": [item]}, format="json")
    assert RawRefund.objects.get(refund_no="8100000001").keyword_warning == ""


def test_a_pushed_description_that_changes_is_checked_again_on_the_raw_and_refund_slip(
    api, shop_key, django_capture_on_commit_callbacks
):
    """The writer hands the receivers what it stored: a slip whose buyer's words change is re-checked
    against its stored warning, on the raw refund slip and on its open refund slip. (JD's list rows
    carry no buyer's words: they come from a store integration's push.)"""
    shop = shop_key[0]
    order = OrderFactory(shop=shop, status=OrderStatus.COMPLETED)
    line = OrderLineFactory(order=order, num=1, price=D("60.00"), paid=D("60.00"))

    def push(desc, modified):
        item = {
            "refund_no": "7100000091",
            "tid": order.tid,
            "oid": line.oid,
            "refund_type": RefundType.RETURN,
            "platform_status": PlatformStatus.AWAITING_RECEIPT,
            "refund_amount": "60.00",
            "num": 1,
            "description": desc,
            "modified": modified,
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/v1/raw-refunds/", {"items": [item]}, format="json")
        assert response.status_code == 200, response.json()

    push("鞋码小了，想换个大一码的", "2026-11-28T10:00:00+08:00")
    raw = RawRefund.objects.get(shop=shop, refund_no="7100000091")
    assert raw.keyword_warning == "描述像换货（“换个”），类型为退货"
    slip = refund_slip_create(raw_refund_id=raw.pk, by="客服")
    assert slip.attention == raw.keyword_warning

    push("不想要了，退货", "2026-11-28T11:00:00+08:00")
    raw.refresh_from_db()
    slip.refresh_from_db()
    assert raw.keyword_warning == "" and slip.attention == ""
