"""Refund slips end to end: created from raw refund slips, return slips or by hand; two review levels;
退款完成 following JD's 退款成功 over the real sandbox; keyword warnings; one open after-sales per line."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core.audit import events_for
from orders.models import Order, OrderPromotion, OrderStatus, PayType
from refund_slips.models import RefundSlip, RefundSlipStatus, RefundStrategy, ShopRefundSettings
from refund_slips.services import (
    RefundSlipRefused,
    refund_quote,
    refund_slip_add_freight,
    refund_slip_adjust,
    refund_slip_approve,
    refund_slip_cancel,
    refund_slip_create,
    refund_slip_mark_refunded,
    refund_slip_reject,
)
from refunds.models import PlatformStatus, RawRefund, RefundType
from returns.services import ReturnRefused, return_inbound_audit, return_slip_create, return_slip_transition
from sa_sync.models import SyncKind
from sa_sync.platform_sync import shop_sync

from .conftest import PASSWORD, make_user
from .factories import OrderFactory, OrderLineFactory, RawRefundFactory, ShopFactory
from .sa_sync.test_platform_sync import ts

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def finance_user(django_user_model):
    return make_user(django_user_model, "fin_t", "财务")


@pytest.fixture
def cs2_user(django_user_model):
    return make_user(django_user_model, "cs2_t", "客服")


def abc_order(shop=None, *, status=OrderStatus.COMPLETED, freight="0.00", pay_type=PayType.ONLINE):
    """The seed's order: A 100, B 60, C 40 with 满150减20."""
    shop = shop or ShopFactory()
    order = OrderFactory(
        shop=shop, status=status, paid=D("180.00") + D(freight), post_amount=D(freight), pay_type=pay_type
    )
    lines = [
        OrderLineFactory(order=order, goods_name=name, num=1, price=D(price), paid=D(price))
        for name, price in (("A", "100.00"), ("B", "60.00"), ("C", "40.00"))
    ]
    OrderPromotion.objects.create(
        order=order, name="满减优惠", threshold=D("150"), discount=D("20"), oids=[x.oid for x in lines]
    )
    return order, lines


def strategy(shop, value, **limits):
    ShopRefundSettings.objects.update_or_create(shop=shop, defaults={"strategy": value, **limits})


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


# --- amounts through the service -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        (RefundStrategy.PROPORTIONAL, ["90.00", "54.00", "36.00"]),
        (RefundStrategy.RECOMPUTE, ["80.00", "40.00", "40.00"]),
    ],
)
def test_each_single_good_of_the_seed_under_the_shops_strategy(value, expected, cs_user):
    order, lines = abc_order()
    strategy(order.shop, value)
    quotes = [refund_quote(order_id=order.pk, lines={line.pk: 1}).amount for line in lines]
    assert quotes == [D(x) for x in expected]
    raw = RawRefundFactory(order_line=lines[1], refund_type=RefundType.RETURN, refund_amount=D("60.00"))
    slip = refund_slip_create(raw_refund_id=raw.pk, by=cs_user)
    assert slip.amount == slip.computed_amount == D(expected[1])
    assert slip.status == RefundSlipStatus.PENDING_REVIEW and slip.strategy == value
    assert "满减优惠" in slip.quote
    assert events_for(slip).filter(action="创建退款单", actor_name="cs_t").exists()


def test_a_good_that_cannot_be_returned_alone_is_refused_with_why(cs_user):
    shop = ShopFactory()
    strategy(shop, RefundStrategy.RECOMPUTE)
    order = OrderFactory(shop=shop, status=OrderStatus.COMPLETED, paid=D("50.00"))
    a = OrderLineFactory(order=order, num=1, price=D("60"), paid=D("60.00"))
    b = OrderLineFactory(order=order, num=1, price=D("40"), paid=D("40.00"))
    OrderPromotion.objects.create(order=order, threshold=D("100"), discount=D("50"), oids=[a.oid, b.oid])
    with pytest.raises(RefundSlipRefused, match="不能单独退此商品"):
        refund_slip_create(order_id=order.pk, lines={b.pk: 1}, by=cs_user)
    assert refund_slip_create(order_id=order.pk, lines={a.pk: 1}, by=cs_user).amount == D("10.00")


def test_whole_order_before_shipment_includes_freight_after_only_if_cs_adds_it(cs_user):
    order, _ = abc_order(status=OrderStatus.AWAITING_FINANCE_REVIEW, freight="8.00")
    before = refund_slip_create(order_id=order.pk, whole_order=True, by=cs_user)
    assert before.amount == D("188.00") and before.whole_order

    shipped, _ = abc_order(status=OrderStatus.SHIPPED, freight="8.00")
    after = refund_slip_create(order_id=shipped.pk, whole_order=True, by=cs_user)
    assert after.amount == D("180.00")
    refund_slip_add_freight(after.pk, by=cs_user, reason="商品质量问题，运费由商家承担")
    after = reload(after)
    assert after.amount == D("188.00") and after.computed_amount == D("180.00")
    assert after.adjustments.get().reason == "商品质量问题，运费由商家承担"


def test_cash_on_delivery_returned_before_payment_has_no_refund_slip(cs_user):
    unpaid, lines = abc_order(status=OrderStatus.SHIPPED, pay_type=PayType.COD)
    with pytest.raises(RefundSlipRefused, match="货到付款订单尚未付款"):
        refund_slip_create(order_id=unpaid.pk, lines={lines[0].pk: 1}, by=cs_user)
    # The return slip alone is fine: goods come back, no money moves.
    assert return_slip_create(order=unpaid, lines={lines[0].pk: 1}, by=cs_user).pk
    assert not RefundSlip.objects.exists()

    paid, lines = abc_order(status=OrderStatus.COMPLETED, pay_type=PayType.COD)
    assert refund_slip_create(order_id=paid.pk, lines={lines[2].pk: 1}, by=cs_user).amount == D("36.00")


def test_adjustment_needs_a_reason_and_withdraws_an_approval(cs_user, finance_user):
    order, lines = abc_order()
    strategy(order.shop, RefundStrategy.PROPORTIONAL, level1_limit=D("100.00"))
    slip = refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by=cs_user)
    with pytest.raises(RefundSlipRefused, match="须填写原因"):
        refund_slip_adjust(slip.pk, by=cs_user, kind="compensation", amount="10", reason="")
    with pytest.raises(RefundSlipRefused, match="不是有效金额"):
        refund_slip_adjust(slip.pk, by=cs_user, kind="compensation", amount="1.234", reason="补偿")
    with pytest.raises(RefundSlipRefused, match="没有调整退款金额的权限"):
        refund_slip_adjust(slip.pk, by=finance_user, kind="compensation", amount="10", reason="补偿")
    refund_slip_adjust(slip.pk, by=cs_user, kind="compensation", amount="20.00", reason="发货慢补偿")
    slip = reload(slip)
    assert (slip.computed_amount, slip.amount) == (D("90.00"), D("110.00"))
    event = events_for(slip).get(field="amount")
    assert (event.from_state, event.to_state, event.reason) == ("90.00", "110.00", "发货慢补偿")


def test_compensation_without_goods(cs_user):
    order, _ = abc_order()
    slip = refund_slip_create(order_id=order.pk, compensation="15.00", reason="超时赔付", by=cs_user)
    assert (slip.computed_amount, slip.amount, slip.reason) == (D("0.00"), D("15.00"), "超时赔付")
    assert not slip.lines.exists() and slip.return_slip is None
    with pytest.raises(RefundSlipRefused, match="补偿须填写原因"):
        refund_slip_create(order_id=order.pk, compensation="15.00", by=cs_user)


# --- review ---------------------------------------------------------------------------------------------
def test_level_one_up_to_the_limit_inclusive(cs_user):
    order, lines = abc_order()
    strategy(order.shop, RefundStrategy.PROPORTIONAL, level1_limit=D("90.00"))
    slip = refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by=cs_user)  # 90.00 = the limit
    result = refund_slip_approve(slip.pk, by=cs_user)
    slip = reload(slip)
    assert slip.status == RefundSlipStatus.AWAITING_REFUND and slip.levels_required == 1
    assert slip.level1_by_name == "cs_t" and slip.level1_at and "待退款" in result.message
    assert events_for(slip).filter(to_state="待退款", actor_name="cs_t").exists()


def test_above_the_limit_needs_finance_and_another_person(cs_user, cs2_user, finance_user, django_user_model):
    order, lines = abc_order()
    strategy(order.shop, RefundStrategy.PROPORTIONAL, level1_limit=D("89.99"), level2_limit=D("500.00"))
    slip = refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by=cs_user)  # 90.00
    with pytest.raises(RefundSlipRefused, match="没有一级审核"):
        refund_slip_approve(slip.pk, by=finance_user)
    result = refund_slip_approve(slip.pk, by=cs_user)
    assert "超过一级审核上限 89.99 元，待财务二级审核" in result.message
    slip = reload(slip)
    assert slip.status == RefundSlipStatus.PENDING_REVIEW and slip.awaiting_level2
    with pytest.raises(RefundSlipRefused, match="须由财务二级审核"):
        refund_slip_approve(slip.pk, by=cs2_user)
    both = make_user(django_user_model, "both_t", "客服")
    both.groups.add(finance_user.groups.get())
    RefundSlip.objects.filter(pk=slip.pk).update(level1_by=both, level1_by_name="both_t")
    with pytest.raises(RefundSlipRefused, match="不能再做二级审核"):
        refund_slip_approve(slip.pk, by=both)
    refund_slip_approve(slip.pk, by=finance_user)
    slip = reload(slip)
    assert slip.status == RefundSlipStatus.AWAITING_REFUND
    assert (slip.level2_by_name, slip.levels_required) == ("fin_t", 2) and slip.level2_at


def test_above_the_second_limit_only_an_administrator(cs_user, finance_user, django_user_model):
    order, lines = abc_order()
    strategy(order.shop, RefundStrategy.PROPORTIONAL, level1_limit=D("10"), level2_limit=D("50"))
    slip = refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by=cs_user)
    refund_slip_approve(slip.pk, by=cs_user)
    with pytest.raises(RefundSlipRefused, match="超过二级审核上限 50.00 元，须由管理员审核"):
        refund_slip_approve(slip.pk, by=finance_user)
    admin = django_user_model.objects.create_superuser("root_t", password=PASSWORD)
    refund_slip_approve(slip.pk, by=admin)
    assert reload(slip).status == RefundSlipStatus.AWAITING_REFUND


def test_reject_needs_a_reason_and_manual_refund_is_finances(cs_user, finance_user):
    order, lines = abc_order()
    slip = refund_slip_create(order_id=order.pk, lines={lines[2].pk: 1}, by=cs_user)
    with pytest.raises(RefundSlipRefused, match="驳回须填写原因"):
        refund_slip_reject(slip.pk, by=cs_user, reason="")
    refund_slip_approve(slip.pk, by=cs_user)
    with pytest.raises(RefundSlipRefused, match="没有确认退款完成的权限"):
        refund_slip_mark_refunded(slip.pk, by=cs_user)
    refund_slip_mark_refunded(slip.pk, by=finance_user, amount="36.00")
    slip = reload(slip)
    assert slip.status == RefundSlipStatus.REFUNDED and slip.refunded_by_name == "fin_t"
    assert slip.amount_difference == ""


# --- JD completes it -------------------------------------------------------------------------------------
def jd_order(order_id, skus):
    return {
        "orderId": str(order_id),
        "orderState": "FINISHED_L",
        "orderStartTime": ts(120),
        "modified": ts(60),
        "orderPayment": "180.00",
        "orderTotalPrice": "200.00",
        "sellerDiscount": "20.00",
        "pin": "jd_buyer",
        "itemInfoList": [
            {"skuId": sku, "skuName": f"商品{sku}", "jdPrice": price, "itemTotal": "1"} for sku, price in skus
        ],
        "couponDetailList": [
            {
                "skuId": None,
                "couponType": "29-满减优惠",
                "couponPrice": "20.00",
                "thresholdPrice": "150.00",
                "promotionId": "MJ150-20",
                "skuIds": [sku for sku, _ in skus],
            }
        ],
    }


def jd_refund(refund_id, order_id, sku, *, status=1, fen=6000):
    return {
        "id": refund_id,
        "orderId": int(order_id),
        "applyTime": ts(30),
        "applyRefundSum": fen,
        "status": status,
        "skuVoList": [{"skuId": sku, "skuCount": 1}],
        "reason": "质量问题",
        "buyerName": "张三",
    }


SKUS = [("100000000001", "100.00"), ("100000000002", "60.00"), ("100000000003", "40.00")]


def test_sync_brings_the_promotion_and_jd_refund_success_completes_the_slip(
    sandbox, jd, cs_user, finance_user
):
    sandbox.seed_orders(jd.app_key, [jd_order(820000000001, SKUS)])
    sandbox.seed_refunds(jd.app_key, [jd_refund(7100000001, 820000000001, "100000000002", fen=5400)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    shop_sync(jd, kind=SyncKind.REFUNDS)
    promotion = Order.objects.get(tid="820000000001").promotions.get()
    assert (promotion.threshold, promotion.discount, len(promotion.oids)) == (D("150.00"), D("20.00"), 3)

    strategy(jd, RefundStrategy.RECOMPUTE)
    raw = RawRefund.objects.get(refund_no="7100000001")
    slip = refund_slip_create(raw_refund_id=raw.pk, by=cs_user)
    assert slip.amount == D("40.00")  # 60 − 20: A + C = 140 < 150
    refund_slip_approve(slip.pk, by=cs_user)
    with pytest.raises(RefundSlipRefused, match="以京东“退款成功”为准"):
        refund_slip_mark_refunded(slip.pk, by=finance_user)

    sandbox.update_refund(7100000001, app_key=jd.app_key, status=3)  # JD refunded 54.00
    shop_sync(jd, kind=SyncKind.REFUNDS)
    slip = reload(slip)
    assert slip.status == RefundSlipStatus.REFUNDED and slip.refunded_by_name == "京东"
    assert slip.platform_refund_amount == D("54.00")
    assert slip.amount_difference == "京东实退 54.00 元，退款单应退 40.00 元，相差 14.00 元"
    event = events_for(slip).get(to_state="退款完成")
    assert event.actor_name.startswith("系统：平台同步") and "7100000001" in event.reason


def test_jd_amount_equal_to_ours_is_not_flagged_and_a_cancellation_cancels(sandbox, jd, cs_user):
    sandbox.seed_orders(jd.app_key, [jd_order(820000000002, SKUS)])
    sandbox.seed_refunds(
        jd.app_key,
        [
            jd_refund(7100000002, 820000000002, "100000000001", fen=9000),
            jd_refund(7100000003, 820000000002, "100000000003", fen=3600),
        ],
    )
    shop_sync(jd, kind=SyncKind.ORDERS)
    shop_sync(jd, kind=SyncKind.REFUNDS)
    first = refund_slip_create(raw_refund_id=RawRefund.objects.get(refund_no="7100000002").pk, by=cs_user)
    second = refund_slip_create(raw_refund_id=RawRefund.objects.get(refund_no="7100000003").pk, by=cs_user)
    assert (first.amount, second.amount) == (D("90.00"), D("36.00"))
    refund_slip_approve(first.pk, by=cs_user)
    sandbox.update_refund(7100000002, app_key=jd.app_key, status=3)
    sandbox.update_refund(7100000003, app_key=jd.app_key, status=11)  # 用户撤销
    shop_sync(jd, kind=SyncKind.REFUNDS)
    first, second = reload(first), reload(second)
    assert first.status == RefundSlipStatus.REFUNDED and first.amount_difference == ""
    assert second.status == RefundSlipStatus.CANCELLED


# --- keyword check --------------------------------------------------------------------------------------
def test_keyword_mismatch_both_directions_on_raw_and_refund_slips(jd, cs_user, client):
    # The buyer's words come with slips a store integration pushes (JD's list rows carry none).
    order = OrderFactory(shop=jd, status=OrderStatus.COMPLETED)
    for refund_no, refund_type, desc in (
        ("7100000011", RefundType.RETURN, "鞋码小了，想换个大一码的"),
        ("7100000012", RefundType.EXCHANGE, "质量太差，我要退货退钱"),
        ("7100000013", RefundType.RETURN, "不想要了，退货"),
    ):
        RawRefundFactory(
            order_line=OrderLineFactory(order=order),
            refund_no=refund_no,
            refund_type=refund_type,
            platform_status=PlatformStatus.AWAITING_RECEIPT,
            description=desc,
        )
    from refund_slips.services import raw_refunds_keyword_check

    raw_refunds_keyword_check(shop_id=jd.pk)
    warnings = dict(RawRefund.objects.filter(shop=jd).values_list("refund_no", "keyword_warning"))
    assert warnings["7100000011"] == "描述像换货（“换个”），类型为退货"
    assert warnings["7100000012"].startswith("描述像退货（") and warnings["7100000012"].endswith("类型为换货")
    assert warnings["7100000013"] == ""

    slip = refund_slip_create(raw_refund_id=RawRefund.objects.get(refund_no="7100000011").pk, by=cs_user)
    assert slip.attention == "描述像换货（“换个”），类型为退货"

    client.login(username="cs_t", password=PASSWORD)
    page = client.get(reverse("admin:refund_slips_refundslip_changelist") + "?attention=keyword")
    assert slip.number in page.content.decode()
    raws = client.get(reverse("admin:refunds_rawrefund_changelist") + "?attention=keyword").content.decode()
    assert "7100000011" in raws and "7100000012" in raws and "7100000013" not in raws

    # The shop's keywords change: the warnings follow at once.
    settings = ShopRefundSettings.objects.get(shop=jd)
    settings.exchange_keywords = "换货"
    settings.save()
    from refund_slips.services import raw_refunds_keyword_check

    raw_refunds_keyword_check(shop_id=jd.pk)
    assert RawRefund.objects.get(refund_no="7100000011").keyword_warning == ""
    assert reload(slip).attention == ""


# --- one open after-sales per line ------------------------------------------------------------------------
def test_one_open_after_sales_per_line_and_reopen(cs_user):
    order, lines = abc_order()
    first = refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by=cs_user)
    with pytest.raises(RefundSlipRefused) as refused:
        refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1, lines[1].pk: 1}, by=cs_user)
    assert refused.value.message == (
        f"子订单 {lines[0].oid}（A）已有退款单 {first.number}（待审核），不能再建退款单；该退款单驳回或取消后才可以"
    )
    with pytest.raises(ReturnRefused, match=f"已有退款单 {first.number}（待审核），不能再建退货单"):
        return_slip_create(order=order, lines={lines[0].pk: 1}, by=cs_user)
    # Another line is free.
    assert refund_slip_create(order_id=order.pk, lines={lines[1].pk: 1}, by=cs_user)

    refund_slip_reject(first.pk, by=cs_user, reason="买家协商改为换货")
    again = refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by=cs_user)
    refund_slip_cancel(again.pk, by=cs_user)
    assert return_slip_create(order=order, lines={lines[0].pk: 1}, by=cs_user)


def test_an_open_return_slip_holds_the_line_until_its_refund_slip_comes_from_it(cs_user, warehouse_user):
    order, lines = abc_order()
    raw = RawRefundFactory(
        order_line=lines[2], refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RETURN
    )
    returned = return_slip_create(order=order, lines={lines[2].pk: 1}, by=cs_user)
    with pytest.raises(RefundSlipRefused, match=f"已有退货单 {returned.number}（待审核），不能再建退款单"):
        refund_slip_create(raw_refund_id=raw.pk, by=cs_user)
    with pytest.raises(RefundSlipRefused, match="入库完成后才能建退款单"):
        refund_slip_create(return_slip_id=returned.pk, by=cs_user)
    return_slip_transition(returned.pk, "approve", by=cs_user)
    return_inbound_audit(returned.pk, by=warehouse_user, received={returned.lines.get().pk: (1, 0)})
    slip = refund_slip_create(return_slip_id=returned.pk, by=cs_user)
    assert slip.return_slip_id == returned.pk and slip.amount == D("36.00")
    # The same case: a return slip for the raw refund slip its refund slip answers is not blocked.
    raw_b = RawRefundFactory(
        order_line=lines[1], refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RETURN
    )
    refund_b = refund_slip_create(raw_refund_id=raw_b.pk, by=cs_user)
    return_b = return_slip_create(raw_refund=raw_b, by=cs_user)
    assert return_b.pk and refund_b.raw_refund_id == raw_b.pk


# --- admin ----------------------------------------------------------------------------------------------
def test_slip_page_shows_the_quote_and_only_the_buttons_allowed(client, cs_user):
    order, lines = abc_order()
    slip = refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by=cs_user)
    client.login(username="cs_t", password=PASSWORD)
    page = client.get(reverse("admin:refund_slips_refundslip_change", args=[slip.pk])).content.decode()
    assert "满减优惠（满150.00减20.00）：按比例分摊" in page
    assert "应退 90.00 元（与建单时一致）" in page
    strategy(order.shop, RefundStrategy.RECOMPUTE)  # ops change the rule: the page quotes it anew
    page = client.get(reverse("admin:refund_slips_refundslip_change", args=[slip.pk])).content.decode()
    assert "应退 80.00 元" in page and "剩余商品 100.00 元 &lt; 门槛 150.00 元" in page
    assert 'data-action="approve"' in page and 'data-action="mark_refunded"' not in page
    response = client.post(
        reverse("admin:refund_slips_refundslip_action", args=[slip.pk, "approve"]), follow=True
    )
    assert "审核通过，待退款" in response.content.decode()
    assert reload(slip).status == RefundSlipStatus.AWAITING_REFUND


def test_create_page_quotes_without_creating_then_creates(client, cs_user):
    order, lines = abc_order()
    strategy(order.shop, RefundStrategy.RECOMPUTE)
    client.login(username="cs_t", password=PASSWORD)
    url = reverse("admin:refund_slips_refundslip_create")
    page = client.post(url, {"tid": order.tid, f"qty-{lines[1].pk}": "1", "quote": "1"}).content.decode()
    assert "应退 40.00 元" in page and "扣除优惠 20.00 元" in page
    assert not RefundSlip.objects.exists()
    client.post(url, {"tid": order.tid, f"qty-{lines[1].pk}": "1", "create": "1"})
    assert RefundSlip.objects.get().amount == D("40.00")


def test_outsider_sees_no_refund_slip_page(client, outsider):
    client.login(username="outsider_t", password=PASSWORD)
    assert client.get(reverse("admin:refund_slips_refundslip_changelist")).status_code == 403
    assert client.get(reverse("admin:refund_slips_refundslip_create")).status_code == 403


# --- concurrency (row locks: PostgreSQL only) ---------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["refund", "return"])
def test_two_creators_on_one_line_at_once_make_one_document(second):
    import threading

    from django.db import connection

    order, lines = abc_order()
    start = threading.Barrier(2)
    outcomes = []

    def create(kind):
        try:
            start.wait()
            if kind == "refund":
                refund_slip_create(order_id=order.pk, lines={lines[0].pk: 1}, by="甲")
            else:
                return_slip_create(order=order, lines={lines[0].pk: 1}, by="乙")
            outcomes.append("created")
        except (RefundSlipRefused, ReturnRefused) as refused:
            outcomes.append(refused.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(kind,)) for kind in ("refund", second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[0] == "created" and len(outcomes) == 2
    assert "已有" in sorted(outcomes)[1] and lines[0].oid in sorted(outcomes)[1]
    documents = RefundSlip.objects.filter(lines__order_line=lines[0]).count()
    documents += lines[0].return_lines.count()
    assert documents == 1


def test_return_slip_page_offers_the_refund_slip_once_inbound_is_done(client, cs_user, warehouse_user):
    order, lines = abc_order()
    returned = return_slip_create(order=order, lines={lines[0].pk: 1}, by=cs_user, approve=True)
    client.login(username="cs_t", password=PASSWORD)
    page = reverse("admin:returns_returnslip_change", args=[returned.pk])
    assert 'data-action="create_refund"' not in client.get(page).content.decode()
    return_inbound_audit(returned.pk, by=warehouse_user, received={returned.lines.get().pk: (1, 0)})
    assert 'data-action="create_refund"' in client.get(page).content.decode()
    response = client.post(
        reverse("admin:refund_slips_refundslip_from_return", args=[returned.pk]), follow=True
    )
    slip = RefundSlip.objects.get(return_slip=returned)
    assert f"已创建退款单 {slip.number}（待审核，应退 90.00 元）" in response.content.decode()
