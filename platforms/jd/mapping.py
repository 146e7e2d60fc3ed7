"""JD's rows → the port's normalised rows (platforms/port.py). Pure functions, no database.

原始子单号 (oid) for JD is `orderId-skuId`: JD has no order-line id, and one SKU appears once per order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings

from orders.models import Order, OrderLine, OrderPromotion, OrderStatus, PayType, PromotionKind
from refunds.models import PlatformObject, PlatformStatus, RawRefund, RefundType

from . import codes as jd_codes
from .codes import REFUND_APPLY_STATUS
from .signing import parse_jd_timestamp

# What order.search is asked to return of each order (its `optional_fields`): what order_fields,
# line_fields and the promotions read.
ORDER_SEARCH_FIELDS = (
    "orderId",
    "orderState",
    "orderStateRemark",
    "payType",
    "pin",
    "orderTotalPrice",
    "sellerDiscount",
    "freightPrice",
    "orderPayment",
    "orderStartTime",
    "paymentConfirmTime",
    "modified",
    "consigneeInfo",
    "itemInfoList",
    "couponDetailList",
)

# jingdong.pop.order.search orderState → our order status, for an order we see for the first time.
# An order already known keeps any status it has moved to locally (sa_sync's ingest decides).
JD_ORDER_STATE = {
    "WAIT_SELLER_STOCK_OUT": OrderStatus.AWAITING_CS_REVIEW,  # 等待出库: the ERP's own flow starts
    "WAIT_SELLER_DELIVERY": OrderStatus.AWAITING_CS_REVIEW,
    "LOCKED": OrderStatus.AWAITING_CS_REVIEW,
    "POP_ORDER_PAUSE": OrderStatus.AWAITING_CS_REVIEW,
    "WAIT_GOODS_RECEIVE_CONFIRM": OrderStatus.SHIPPED,  # 等待确认收货
    "FINISHED_L": OrderStatus.COMPLETED,
    "TRADE_CANCELED": OrderStatus.CANCELLED,
}

# queryPageList status → platform status: JD's state table (platforms.jd.codes) decides, for the sync,
# the fresh read before a writeback and the sandbox alike.


def platform_status_for(jd_status: int, refund_type: int = RefundType.REFUND) -> PlatformStatus:
    """A refund application's platform status (its type is always 退款: refund_type is kept for
    the callers that name it)."""
    return PlatformStatus(jd_codes.platform_status(jd_status))


# --- reading one JD row: every value checked, every problem named --------------------------------
# JD's data is not ours to trust: one malformed row must not stop a shop's sync. Each function below
# either returns the value as we store it or raises `BadRow` naming the field, the value and what is
# wrong; the sync sets that row aside (SyncRejectedRow) and saves the others. Lengths come from the
# columns themselves, so a widened column is followed here without a second edit.
MAX_AMOUNT = Decimal("9999999999.99")  # max_digits=12, decimal_places=2 on every amount column
MAX_QUANTITY = 2**31 - 1  # PositiveIntegerField is a 4-byte integer on PostgreSQL
SHOWN_VALUE_CHARS = 40


class BadRow(ValueError):
    """A JD row we cannot store as it is. `reason` is Chinese for ops: which field, what value, what
    is wrong."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def shown(value) -> str:
    """A value as ops read it in a reason: JSON-ish, cut to a readable length."""
    if isinstance(value, str):
        text = f"“{value}”"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:
            text = repr(value)
    if len(text) > SHOWN_VALUE_CHARS:
        text = f"{text[:SHOWN_VALUE_CHARS]}…（共 {len(text)} 个字符）"
    return text


def _column(model, name: str) -> int:
    return model._meta.get_field(name).max_length


# Read once: a sync maps three rows a millisecond, and each lookup per row shows in bench/sync.py.
ORDER_LEN = {
    n: _column(Order, n)
    for n in ("tid", "platform_status", "buyer_nick", "receiver_name", "receiver_mobile", "receiver_address")
}
LINE_LEN = {n: _column(OrderLine, n) for n in ("oid", "goods_no", "spec_no", "goods_name")}
REFUND_LEN = {
    n: _column(RawRefund, n)
    for n in (
        "refund_no",
        "tid",
        "oid",
        "reason",
        "buyer_nick",
        "return_logistics_company",
        "return_logistics_no",
    )
}
JD_REFUND_STATUSES = tuple(REFUND_APPLY_STATUS)


def _bad(label: str, key: str, value, problem: str) -> BadRow:
    return BadRow(f"{label}（{key}）{problem}，值为 {shown(value)}")


def _scalar_text(label: str, key: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise _bad(label, key, value, "应为文字")


def identifier(label: str, key: str, value, max_length: int, *, required: bool = True) -> str:
    """An id (order, refund, SKU, account): never cut, since a cut id names another thing."""
    text = _scalar_text(label, key, value).strip()
    if not text:
        if required:
            raise BadRow(f"缺少{label}（{key}）")
        return ""
    if "\x00" in text:
        raise _bad(label, key, value, "含有空字符")
    if len(text) > max_length:
        raise _bad(label, key, value, f"长度 {len(text)} 超过 {max_length} 个字符（编号不能截断）")
    return text


def number_id(label: str, key: str, value, max_length: int) -> str:
    """JD's order and refund ids are numbers; anything else is not one of JD's ids."""
    text = identifier(label, key, value, max_length)
    if not text.isascii() or not text.isdigit():
        raise _bad(label, key, value, "应为数字编号")
    return text


def text(label: str, key: str, value, notes: list, max_length: int | None = None) -> str:
    """Display text: cut to the column when too long, and say so (`notes`); NUL removed (PostgreSQL
    refuses it in text)."""
    result = _scalar_text(label, key, value)
    if "\x00" in result:
        result = result.replace("\x00", "")
        notes.append(f"{label}（{key}）含有空字符，已去除")
    if max_length is not None and len(result) > max_length:
        notes.append(f"{label}（{key}）长度 {len(result)} 超过 {max_length} 个字符，已截断保存")
        result = result[:max_length]
    return result


def integer(
    label: str,
    key: str,
    value,
    *,
    default: int,
    low: int | None = None,
    high: int | None = None,
    choices=None,
) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise _bad(label, key, value, "应为整数")
    try:
        number = int(str(value).strip()) if not isinstance(value, int | float) else int(value)
    except ValueError:
        raise _bad(label, key, value, "应为整数") from None
    if low is not None and number < low:
        raise _bad(label, key, value, f"不能小于 {low}")
    if high is not None and number > high:
        raise _bad(label, key, value, f"不能大于 {high}")
    if choices is not None and number not in choices:
        # An unknown code is never guessed: mapped to a default it could start a writeback JD
        # would not expect.
        raise _bad(label, key, value, f"不是已知的取值（可选 {'、'.join(str(c) for c in choices)}）")
    return number


def _amount(label: str, key: str, value, amount: Decimal) -> Decimal:
    if not amount.is_finite():
        raise _bad(label, key, value, "应为金额数字")
    if amount < 0:
        raise _bad(label, key, value, "金额不能为负数")
    if amount > MAX_AMOUNT:  # before quantize, which cannot represent a huge value at 0.01
        raise _bad(label, key, value, f"金额超过 {MAX_AMOUNT}")
    return amount.quantize(Decimal("0.01"))


def yuan_amount(label: str, key: str, value) -> Decimal:
    """Yuan, as JD's order API sends them ("158.00")."""
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _bad(label, key, value, "应为金额数字")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(label, key, value, "应为金额数字") from None
    return _amount(label, key, value, amount)


def fen_amount(label: str, key: str, value) -> Decimal:
    """Fen (an integer), as queryPageList sends applyRefundSum, → yuan."""
    fen = integer(label, key, value, default=0)
    return _amount(label, key, value, Decimal(fen) / 100)


def timestamp(label: str, key: str, value):
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(label, key, value, "应为时间 yyyy-MM-dd HH:mm:ss")
    try:
        return parse_jd_timestamp(value)
    except ValueError:
        raise _bad(label, key, value, "不是有效的时间（应为 yyyy-MM-dd HH:mm:ss）") from None


def not_ahead(label: str, key: str, moment):
    """A change time more than PLATFORM_CLOCK_TOLERANCE_SECONDS ahead of our clock is not a clock
    difference: stored, it would make every later (true) copy of the row look older and be ignored,
    so the row is set aside instead (the API refuses such a `modified` the same way)."""
    if moment is None:
        return None
    limit = datetime.now(UTC) + timedelta(seconds=settings.PLATFORM_CLOCK_TOLERANCE_SECONDS)
    if moment > limit:
        raise _bad(label, key, moment.strftime("%Y-%m-%d %H:%M:%S"), "晚于当前时间，平台更新时间不可能在未来")
    return moment


def _mapping(label: str, key: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(label, key, value, "应为对象")
    return value


def _list(label: str, key: str, value) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(label, key, value, "应为列表")
    return value


def platform_id(item, key: str) -> str:
    """The row's JD id (`key`: orderId for an order, id for a refund application) for the set-aside
    record, as far as it can be read ("" when it cannot)."""
    if not isinstance(item, dict):
        return ""
    value = item.get(key)
    return str(value)[:64] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def oid_for(order_id, sku_id) -> str:
    return f"{order_id}-{sku_id}"


# --- orders --------------------------------------------------------------------------------------
def order_fields(item, notes: list | None = None) -> dict:
    """One jingdong.pop.order.search row → Order fields. Raises BadRow; `notes` gets what was cut."""
    notes = [] if notes is None else notes
    item = _mapping("订单", "orderInfoList[]", item)
    consignee = _mapping("收件人信息", "consigneeInfo", item.get("consigneeInfo"))
    state = _scalar_text("京东订单状态", "orderState", item.get("orderState"))
    remark = item.get("orderStateRemark") or state
    return {
        "tid": number_id("订单号", "orderId", item.get("orderId"), ORDER_LEN["tid"]),
        # An order state we do not know yet starts at 待客审: the ERP's own flow takes it from there.
        "status": JD_ORDER_STATE.get(state, OrderStatus.AWAITING_CS_REVIEW),
        "platform_status": text(
            "平台订单状态", "orderStateRemark", remark, notes, ORDER_LEN["platform_status"]
        ),
        "pay_type": PayType.COD
        if _scalar_text("支付方式", "payType", item.get("payType")).startswith("1")
        else PayType.ONLINE,
        # The buyer's JD account (pin) identifies the buyer: never cut.
        "buyer_nick": identifier("买家账号", "pin", item.get("pin"), ORDER_LEN["buyer_nick"], required=False),
        "receiver_name": text(
            "收件人",
            "consigneeInfo.fullname",
            consignee.get("fullname"),
            notes,
            ORDER_LEN["receiver_name"],
        ),
        # A phone number cut short is another number: a mobile that does not fit is refused, not cut.
        "receiver_mobile": identifier(
            "收件人手机",
            "consigneeInfo.mobile",
            consignee.get("mobile"),
            ORDER_LEN["receiver_mobile"],
            required=False,
        ),
        "receiver_address": text(
            "收件地址",
            "consigneeInfo.fullAddress",
            consignee.get("fullAddress"),
            notes,
            ORDER_LEN["receiver_address"],
        ),
        "goods_amount": yuan_amount("货品总额", "orderTotalPrice", item.get("orderTotalPrice")),
        "discount": yuan_amount("优惠", "sellerDiscount", item.get("sellerDiscount")),
        "post_amount": yuan_amount("运费", "freightPrice", item.get("freightPrice")),
        "paid": yuan_amount("实付金额", "orderPayment", item.get("orderPayment")),
        "trade_time": timestamp("下单时间", "orderStartTime", item.get("orderStartTime")),
        "pay_time": timestamp("付款时间", "paymentConfirmTime", item.get("paymentConfirmTime")),
        "platform_modified": not_ahead(
            "平台更新时间", "modified", timestamp("平台更新时间", "modified", item.get("modified"))
        ),
    }


def line_fields(order_id, item, coupons: dict, notes: list | None = None) -> dict:
    notes = [] if notes is None else notes
    item = _mapping("子订单", "itemInfoList[]", item)
    sku = identifier("SKU", "itemInfoList.skuId", item.get("skuId"), LINE_LEN["spec_no"])
    num = integer(
        "数量", "itemInfoList.itemTotal", item.get("itemTotal"), default=1, low=1, high=MAX_QUANTITY
    )
    price = yuan_amount("单价", "itemInfoList.jdPrice", item.get("jdPrice"))
    discount = coupons.get(sku, Decimal("0"))
    if discount > MAX_AMOUNT:
        raise _bad("优惠分摊", "couponDetailList.couponPrice", str(discount), f"金额超过 {MAX_AMOUNT}")
    paid = price * num - discount
    if paid > MAX_AMOUNT:
        raise _bad("实付分摊", "itemInfoList.jdPrice×itemTotal", f"{price}×{num}", f"金额超过 {MAX_AMOUNT}")
    return {
        "oid": identifier("原始子单号", "orderId-skuId", oid_for(order_id, sku), LINE_LEN["oid"]),
        "goods_no": identifier(
            "货品编号",
            "itemInfoList.wareId",
            item.get("wareId"),
            LINE_LEN["goods_no"],
            required=False,
        ),
        "spec_no": identifier(
            "规格编号",
            "itemInfoList.outerSkuId",
            item.get("outerSkuId") or sku,
            LINE_LEN["spec_no"],
        ),
        "goods_name": text(
            "货品名称", "itemInfoList.skuName", item.get("skuName"), notes, LINE_LEN["goods_name"]
        ),
        "num": num,
        "price": price,
        "discount": discount,
        "paid": paid,
    }


def coupons_by_sku(item: dict) -> dict:
    total: dict[str, Decimal] = {}
    for coupon in _list("优惠明细", "couponDetailList", item.get("couponDetailList")):
        coupon = _mapping("优惠明细", "couponDetailList[]", coupon)
        sku = _scalar_text("优惠SKU", "couponDetailList.skuId", coupon.get("skuId")).strip()
        if sku:
            price = yuan_amount("优惠金额", "couponDetailList.couponPrice", coupon.get("couponPrice"))
            total[sku] = total.get(sku, Decimal("0")) + price
    return total


def order_promotions(item: dict) -> list[dict]:
    """Order-level promotions: couponDetailList entries without a skuId (a single item's coupon has
    one and stays on its line). `thresholdPrice` (满) and `skuIds` (the lines it covers; none: all)
    are the sandbox's extension of JD's row, to be confirmed against JD's order API; a JD entry
    without them is recorded as a promotion with no threshold over every line."""
    tid = _scalar_text("订单号", "orderId", item.get("orderId")).strip()
    promotions = []
    for coupon in _list("优惠明细", "couponDetailList", item.get("couponDetailList")):
        coupon = _mapping("优惠明细", "couponDetailList[]", coupon)
        if _scalar_text("优惠SKU", "couponDetailList.skuId", coupon.get("skuId")).strip():
            continue
        coupon_type = _scalar_text(
            "优惠类型", "couponDetailList.couponType", coupon.get("couponType")
        ).strip()
        name = coupon_type.split("-", 1)[-1][: _column(OrderPromotion, "name")]
        kind = (
            PromotionKind.FULL_REDUCTION
            if "满减" in coupon_type
            else PromotionKind.COUPON
            if "券" in coupon_type
            else PromotionKind.OTHER
        )
        skus = _list("优惠商品", "couponDetailList.skuIds", coupon.get("skuIds"))
        promotions.append(
            {
                "promotion_no": identifier(
                    "优惠编号",
                    "couponDetailList.promotionId",
                    coupon.get("promotionId"),
                    _column(OrderPromotion, "promotion_no"),
                    required=False,
                ),
                "kind": kind,
                "name": name,
                "threshold": yuan_amount(
                    "优惠门槛", "couponDetailList.thresholdPrice", coupon.get("thresholdPrice")
                ),
                "discount": yuan_amount(
                    "优惠金额", "couponDetailList.couponPrice", coupon.get("couponPrice")
                ),
                "oids": [
                    oid_for(tid, _scalar_text("优惠SKU", "couponDetailList.skuIds[]", sku)) for sku in skus
                ],
            }
        )
    return promotions


def order_with_lines(item) -> tuple[dict, list[dict], list[str]]:
    """An order row with its lines and what was cut; raises BadRow for the whole order (an order is
    stored with all its lines or not at all: a partial order would intercept and ship wrongly)."""
    notes: list[str] = []
    fields = order_fields(item, notes)
    coupons = coupons_by_sku(item)
    lines = [
        line_fields(fields["tid"], line, coupons, notes)
        for line in _list("子订单", "itemInfoList", item.get("itemInfoList"))
    ]
    oids = [line["oid"] for line in lines]
    if len(set(oids)) < len(oids):
        duplicate = next(oid for oid in oids if oids.count(oid) > 1)
        raise BadRow(f"子订单（itemInfoList）中同一 SKU 出现多次，原始子单号 {duplicate} 重复")
    return fields, lines, notes


# --- refund applications -------------------------------------------------------------------------
def refund_fields(item, notes: list | None = None) -> dict:
    """One queryPageList row (the SDKs' RefundApplyVo) → the port's after-sales row (RawRefund
    fields). Raises BadRow; `notes` gets what was cut.

    JD's fields: id (Long), orderId (String), buyerId, buyerName, applyTime, checkTime,
    applyRefundSum (fen), status (Long), reason and, asked with showSku=true, the goods in
    skuVoList [{skuId (Long), skuName, skuCount (Integer)}]. Numbers may come as strings and ids as
    numbers: both are read. A refund application is JD's refund before shipment (取消订单): 退款."""
    notes = [] if notes is None else notes
    item = _mapping("退款单", "result[]", item)
    refund_no = number_id("退款单号", "id", item.get("id"), REFUND_LEN["refund_no"])
    tid = number_id("订单号", "orderId", item.get("orderId"), REFUND_LEN["tid"])
    jd_status = integer("京东退款状态", "status", item.get("status"), default=0, choices=JD_REFUND_STATUSES)
    oid, num, several = _goods(tid, item.get("skuVoList"))
    # buyerName is a display name (cut if long); buyerId is the account (an id: refused if long).
    buyer_name = text("买家姓名", "buyerName", item.get("buyerName"), notes, REFUND_LEN["buyer_nick"])
    buyer = buyer_name or identifier(
        "买家账号", "buyerId", item.get("buyerId"), REFUND_LEN["buyer_nick"], required=False
    )
    apply_time = timestamp("申请时间", "applyTime", item.get("applyTime"))
    check_time = timestamp("审核时间", "checkTime", item.get("checkTime"))
    fields = {
        "refund_no": refund_no,
        "tid": tid,
        "oid": oid,
        "refund_type": RefundType.REFUND,
        "platform_status_code": str(jd_status),
        "reason": text("退款原因", "reason", item.get("reason"), notes, REFUND_LEN["reason"]),
        "refund_amount": fen_amount("退款金额(分)", "applyRefundSum", item.get("applyRefundSum")),
        "num": num,
        "buyer_nick": buyer,
        "apply_time": apply_time,
        "check_time": check_time,
        # JD's row has no change time of its own: JD sets checkTime when an application moves.
        "platform_modified": not_ahead(
            "平台更新时间", "checkTime" if check_time else "applyTime", check_time or apply_time
        ),
        # JD's row carries no buyer's words and no parcel (a refund before receipt has none): the
        # slip's own description and return waybill are left as they are (the ingest writes only the
        # fields a row has), so slips downloaded before keep what they had.
        "platform_object": PlatformObject.REFUND_APPLY,
        "platform_id": refund_no,
        "needs_manual_interception": several,
    }
    fields["platform_status"] = platform_status_for(jd_status)
    return fields


def _goods(tid: str, value) -> tuple[str, int, bool]:
    """(oid, quantity, several goods) from skuVoList. One SKU: the slip is that order line
    (`orderId-skuId`) for skuCount units. Several SKUs: JD's 取消订单 covers them all, and a slip is one
    line; the slip keeps no line, counts every unit, and is flagged for a person to intercept
    (docs/sandbox.md says why). None listed: no line known."""
    goods = _list("商品明细", "skuVoList", value)
    skus: dict[str, int] = {}
    for entry in goods:
        entry = _mapping("商品明细", "skuVoList[]", entry)
        sku = identifier("SKU", "skuVoList.skuId", entry.get("skuId"), LINE_LEN["spec_no"])
        count = integer(
            "退款数量", "skuVoList.skuCount", entry.get("skuCount"), default=1, low=1, high=MAX_QUANTITY
        )
        skus[sku] = skus.get(sku, 0) + count
    total = sum(skus.values())
    if total > MAX_QUANTITY:
        raise BadRow(f"退款数量（skuVoList.skuCount）合计 {total} 超过 {MAX_QUANTITY}")
    if len(skus) == 1:
        ((sku, count),) = skus.items()
        return identifier("原始子单号", "orderId-skuId", oid_for(tid, sku), REFUND_LEN["oid"]), count, False
    return "", total or 1, len(skus) > 1
