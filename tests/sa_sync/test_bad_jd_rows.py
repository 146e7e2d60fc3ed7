"""Bad data from JD (issue 9): one malformed row never stops a shop's sync. It is set aside with its
reason for ops, the other rows are saved and the cursor moves on. Real HTTP: the SA sandbox sends the
malformed rows (its `corrupt_rows` fault), the sync runs against the real database (on PostgreSQL the
column lengths are enforced, which is where an over-long value used to fail a whole page)."""

import pytest
from django.urls import reverse

from orders.models import Order, OrderLine
from refunds.models import RawRefund
from sa_sync.models import SyncCursor, SyncKind, SyncRejectedRow, SyncRowOutcome, SyncRunStatus
from sa_sync.platform_sync import shop_sync

from .test_platform_sync import jd_order, jd_refund, seed

pytestmark = pytest.mark.django_db

ROWS = 120
BAD_REFUND = 7000000007
BAD_ORDER = 810000000007


def refunds_with_one_bad(sandbox, shop, corruption):
    refunds = [jd_refund(7000000000 + n, 810000000000 + n, minutes_ago=30 + n * 0.1) for n in range(ROWS)]
    seed(sandbox, shop, refunds=refunds)
    sandbox.set_faults(app_key=shop.app_key, corrupt_rows=[{"key": str(BAD_REFUND), **corruption}])


def orders_with_one_bad(sandbox, shop, corruption):
    orders = [jd_order(810000000000 + n, minutes_ago=30 + n * 0.1) for n in range(ROWS)]
    seed(sandbox, shop, orders=orders)
    sandbox.set_faults(app_key=shop.app_key, corrupt_rows=[{"key": str(BAD_ORDER), **corruption}])


REFUND_CASES = {
    "amount not a number": (
        {"set": {"applyRefundSum": "七十九元"}},
        ["退款金额", "applyRefundSum", "七十九元"],
    ),
    "status not a number": ({"set": {"status": "退款中"}}, ["京东退款状态", "status", "退款中"]),
    "unknown status code": ({"set": {"status": 99}}, ["京东退款状态", "status", "99", "不是已知的取值"]),
    "bad date": ({"set": {"applyTime": "2026-13-45 25:61:00"}}, ["申请时间", "applyTime", "2026-13-45"]),
    "missing orderId": ({"unset": ["orderId"]}, ["缺少订单号", "orderId"]),
    "orderId not a number": ({"set": {"orderId": "None"}}, ["订单号", "orderId", "应为数字编号"]),
    "quantity not a number": (
        {"set": {"skuVoList": [{"skuId": 100000000001, "skuCount": "两件"}]}},
        ["退款数量", "skuVoList.skuCount", "两件"],
    ),
    "goods not a list": ({"set": {"skuVoList": "100000000001"}}, ["商品明细", "skuVoList", "应为列表"]),
    "buyer account too long": (
        {"set": {"buyerName": "", "buyerId": "b" * 129}},
        ["买家账号", "buyerId", "128"],
    ),
    "sku is an object": (
        {"set": {"skuVoList": [{"skuId": {"id": 1}, "skuCount": 1}]}},
        ["SKU", "skuVoList.skuId", "应为文字"],
    ),
    "quantity past the column": (
        {"set": {"skuVoList": [{"skuId": 100000000001, "skuCount": 10**12}]}},
        ["退款数量", "skuVoList.skuCount", "不能大于"],
    ),
    "amount past the column": (
        {"set": {"applyRefundSum": 10**20}},
        ["退款金额", "applyRefundSum", "金额超过"],
    ),
    "negative amount": ({"set": {"applyRefundSum": -100}}, ["退款金额", "applyRefundSum", "不能为负数"]),
}


@pytest.mark.parametrize("case", REFUND_CASES)
def test_a_malformed_refund_application_is_set_aside_and_the_rest_saved(sandbox, jd, case):
    corruption, reason_parts = REFUND_CASES[case]
    refunds_with_one_bad(sandbox, jd, corruption)

    run = shop_sync(jd, kind=SyncKind.REFUNDS)

    assert run.status == SyncRunStatus.SUCCEEDED, run.error
    assert RawRefund.objects.filter(shop=jd).count() == ROWS - 1
    assert not RawRefund.objects.filter(refund_no=str(BAD_REFUND)).exists()
    assert not RawRefund.objects.filter(tid="None").exists()  # never an order "None"
    assert run.rows_rejected == 1 and run.rows_new == ROWS - 1
    rejected = SyncRejectedRow.objects.get(run=run)
    assert (rejected.shop, rejected.kind, rejected.outcome) == (jd, SyncKind.REFUNDS, SyncRowOutcome.REJECTED)
    assert rejected.platform_id == str(BAD_REFUND)
    for part in reason_parts:
        assert part in rejected.reason, (part, rejected.reason)
    assert rejected.raw["id"] == BAD_REFUND  # JD's row as it came, for ops to take up with JD
    # The cursor moved on: the next run does not start from before the bad row again.
    assert SyncCursor.objects.get(shop=jd, kind=SyncKind.REFUNDS).synced_until == run.window_end


def test_the_next_runs_succeed_too_and_a_row_jd_corrects_comes_in(sandbox, jd):
    refunds_with_one_bad(sandbox, jd, {"set": {"applyRefundSum": "abc"}})
    first = shop_sync(jd, kind=SyncKind.REFUNDS)
    second = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert (first.status, second.status) == (SyncRunStatus.SUCCEEDED, SyncRunStatus.SUCCEEDED)

    sandbox.clear_faults(app_key=jd.app_key)
    sandbox.update_refund(BAD_REFUND, app_key=jd.app_key, status=1)  # JD moves it: it is read again
    third = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert third.rows_rejected == 0
    assert RawRefund.objects.get(refund_no=str(BAD_REFUND)).platform_status_code == "1"
    assert RawRefund.objects.filter(shop=jd).count() == ROWS


def test_a_refund_application_without_id_is_set_aside_without_an_id(sandbox, jd):
    refunds_with_one_bad(sandbox, jd, {"unset": ["id"]})
    run = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert run.status == SyncRunStatus.SUCCEEDED
    rejected = SyncRejectedRow.objects.get(run=run)
    assert rejected.platform_id == "" and "缺少退款单号（id）" in rejected.reason


def test_a_long_buyer_name_or_reason_is_cut_to_its_column_and_said_so(sandbox, jd):
    refunds_with_one_bad(sandbox, jd, {"set": {"buyerName": "名" * 200, "reason": "因" * 300}})
    run = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert run.status == SyncRunStatus.SUCCEEDED
    slip = RawRefund.objects.get(refund_no=str(BAD_REFUND))
    assert slip.buyer_nick == "名" * 128 and slip.reason == "因" * 128
    assert RawRefund.objects.filter(shop=jd).count() == ROWS
    assert (run.rows_rejected, run.rows_cut) == (0, 1)
    note = SyncRejectedRow.objects.get(run=run)
    assert note.outcome == SyncRowOutcome.CUT
    assert "买家姓名（buyerName）长度 200 超过 128 个字符，已截断保存" in note.reason
    assert "退款原因（reason）长度 300 超过 128 个字符，已截断保存" in note.reason


ORDER_CASES = {
    "amount not a number": ({"set": {"orderPayment": "12元"}}, ["实付金额", "orderPayment", "12元"]),
    "bad date": ({"set": {"orderStartTime": "昨天"}}, ["下单时间", "orderStartTime", "昨天"]),
    "mobile over its column": (
        {"set": {"consigneeInfo.mobile": "1" * 40}},
        ["收件人手机", "consigneeInfo.mobile", "长度 40 超过 32"],
    ),
    "buyer account over 128": ({"set": {"pin": "p" * 129}}, ["买家账号", "pin", "长度 129 超过 128"]),
    "missing orderId": ({"unset": ["orderId"]}, ["缺少订单号（orderId）"]),
    "line quantity not a number": (
        {"set": {"itemInfoList": [{"skuId": "1", "itemTotal": "x", "jdPrice": "1.00"}]}},
        ["数量", "itemTotal"],
    ),
    "line without sku": ({"set": {"itemInfoList": [{"skuName": "无SKU", "itemTotal": "1"}]}}, ["缺少SKU"]),
    "same sku twice": (
        {"set": {"itemInfoList": [{"skuId": "1", "itemTotal": "1"}, {"skuId": "1", "itemTotal": "2"}]}},
        ["同一 SKU 出现多次"],
    ),
    "coupon amount not a number": (
        {"set": {"couponDetailList": [{"skuId": "100000000001", "couponPrice": "五元"}]}},
        ["优惠金额", "couponPrice", "五元"],
    ),
    "consignee not an object": ({"set": {"consigneeInfo": "张三"}}, ["收件人信息", "应为对象"]),
    "amount not finite": (
        {"set": {"orderTotalPrice": "NaN"}},
        ["货品总额", "orderTotalPrice", "应为金额数字"],
    ),
    "line quantity past the column": (
        {"set": {"itemInfoList": [{"skuId": "1", "itemTotal": "99999999999", "jdPrice": "1.00"}]}},
        ["数量", "itemTotal", "不能大于"],
    ),
}


@pytest.mark.parametrize("case", ORDER_CASES)
def test_a_malformed_order_is_set_aside_and_the_rest_saved(sandbox, jd, case):
    corruption, reason_parts = ORDER_CASES[case]
    orders_with_one_bad(sandbox, jd, corruption)

    run = shop_sync(jd, kind=SyncKind.ORDERS)

    assert run.status == SyncRunStatus.SUCCEEDED, run.error
    assert Order.objects.filter(shop=jd).count() == ROWS - 1
    assert OrderLine.objects.filter(shop=jd).count() == ROWS - 1  # no line of the bad order either
    assert not Order.objects.filter(tid__in=[str(BAD_ORDER), "None"]).exists()
    rejected = SyncRejectedRow.objects.get(run=run)
    assert (rejected.kind, rejected.outcome) == (SyncKind.ORDERS, SyncRowOutcome.REJECTED)
    for part in reason_parts:
        assert part in rejected.reason, (part, rejected.reason)
    assert SyncCursor.objects.get(shop=jd, kind=SyncKind.ORDERS).synced_until == run.window_end


def test_a_long_address_and_a_nul_in_a_name_are_saved_cut_and_said_so(sandbox, jd):
    address = "北京市大兴区亦庄经济开发区科创十一街18号" * 20
    orders_with_one_bad(
        sandbox, jd, {"set": {"consigneeInfo.fullAddress": address, "consigneeInfo.fullname": "张\x00三"}}
    )
    run = shop_sync(jd, kind=SyncKind.ORDERS)
    assert run.status == SyncRunStatus.SUCCEEDED
    order = Order.objects.get(tid=str(BAD_ORDER))
    assert order.receiver_address == address[:255] and order.receiver_name == "张三"
    note = SyncRejectedRow.objects.get(run=run)
    assert note.outcome == SyncRowOutcome.CUT and note.platform_id == str(BAD_ORDER)
    assert (
        f"收件地址（consigneeInfo.fullAddress）长度 {len(address)} 超过 255 个字符，已截断保存" in note.reason
    )
    assert "收件人（consigneeInfo.fullname）含有空字符，已去除" in note.reason


def test_ops_see_the_set_aside_rows_on_the_run_and_on_the_shop(sandbox, jd, client, ops_user):
    refunds_with_one_bad(sandbox, jd, {"set": {"applyRefundSum": "七十九元"}})
    run = shop_sync(jd, kind=SyncKind.REFUNDS)
    client.force_login(ops_user)

    runs_page = client.get(reverse("admin:sa_sync_syncrun_changelist")).content.decode()
    assert "1 条未保存" in runs_page
    shop_page = client.get(reverse("admin:orders_shop_change", args=[jd.pk])).content.decode()
    assert "1 条未保存" in shop_page
    listed = client.get(
        reverse("admin:sa_sync_syncrejectedrow_changelist"), {"run__id__exact": run.pk}
    ).content.decode()
    assert "退款金额(分)（applyRefundSum）应为整数" in listed and str(BAD_REFUND) in listed
    row = SyncRejectedRow.objects.get(run=run)
    detail = client.get(reverse("admin:sa_sync_syncrejectedrow_change", args=[row.pk])).content.decode()
    assert "七十九元" in detail and jd.access_token not in detail


def test_order_level_promotions_are_read_from_entries_without_a_sku():
    from decimal import Decimal

    from platforms.jd import mapping

    item = {
        "orderId": "810000000077",
        "couponDetailList": [
            {"skuId": "1", "couponType": "41-京东券优惠", "couponPrice": "5.00"},  # the item's own
            {
                "skuId": None,
                "couponType": "29-满减优惠",
                "couponPrice": "20.00",
                "thresholdPrice": "150.00",
                "promotionId": "MJ150-20",
                "skuIds": ["1", "2"],
            },
            {"skuId": "", "couponType": "100-店铺优惠", "couponPrice": "3.00"},  # JD's own shape
        ],
    }
    first, second = mapping.order_promotions(item)
    assert (first["kind"], first["threshold"], first["discount"]) == (
        "full_reduction",
        Decimal("150.00"),
        Decimal("20.00"),
    )
    assert first["oids"] == ["810000000077-1", "810000000077-2"] and first["name"] == "满减优惠"
    assert (second["threshold"], second["discount"], second["oids"]) == (Decimal("0.00"), Decimal("3.00"), [])
    with pytest.raises(mapping.BadRow, match="couponDetailList.skuIds"):
        mapping.order_promotions({"orderId": "1", "couponDetailList": [{"couponPrice": "1", "skuIds": "x"}]})
