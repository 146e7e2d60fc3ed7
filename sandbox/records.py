"""Shapes of what the sandbox holds: defaults for whatever a seed leaves out, and validation that names
the offending field (the control API answers 400 with it)."""

from __future__ import annotations

import zlib
from decimal import Decimal, InvalidOperation

from platforms.jd.codes import CLOSED_STATUSES, REFUND_APPLY_STATUS
from platforms.jd.signing import jd_timestamp, parse_jd_timestamp

ORDER_STATES = {
    "WAIT_SELLER_STOCK_OUT": "等待出库",
    "WAIT_GOODS_RECEIVE_CONFIRM": "等待确认收货",
    "FINISHED_L": "完成",
    "TRADE_CANCELED": "已取消",
    "LOCKED": "锁定",
    # Real JD states the demo does not use, accepted so tests can seed them.
    "WAIT_SELLER_DELIVERY": "等待发货",
    "POP_ORDER_PAUSE": "暂停",
}
PAY_TYPES = ("4-在线支付", "1-货到付款")

REFUND_STATUSES = REFUND_APPLY_STATUS
# Closed (no more writebacks accepted): the back office's own table says which (platforms.jd.codes).
CLOSED_STATUSES = CLOSED_STATUSES
REFUNDED_STATUS = 3
# The carrier of a parcel the buyer ships back without saying which (a service order's return).
DEFAULT_RETURN_CARRIER = "京东快递"


FAULT_FIELDS = (
    "error_rate",
    "error_codes",
    "latency_ms",
    "call_limit_per_second",
    "http_5xx_rate",
    "hang_rate",
    "hang_seconds",
    "revoked",
    "fail_next",
    # Bad data from JD (see docs/sandbox.md): rows sent malformed, answers sent huge.
    "corrupt_rows",
    "answer_padding_bytes",
)
DEFAULT_HANG_SECONDS = 30.0
MAX_ANSWER_PADDING_BYTES = 1 << 30


class InputError(ValueError):
    """Bad control input; `field` names what was wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


# --- scalar coercions -------------------------------------------------------------------------


def need_dict(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(field, "must be a JSON object")
    return value


def as_text(value, field: str, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise InputError(field, "is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(field, "must be a string")
    return str(value)


def as_int(value, field: str, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise InputError(field, "must be an integer")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(field, "must be an integer") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise InputError(field, f"must be between {low} and {high}")
    return number


def as_number(value, field: str, *, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool):
        raise InputError(field, "must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field, "must be a number") from None
    if number < low or (high is not None and number > high):
        raise InputError(
            field, f"must be between {low} and {high}" if high is not None else f"must be >= {low}"
        )
    return number


def as_money(value, field: str) -> Decimal:
    """Yuan as a Decimal; JD sends amounts as strings like "199.00"."""
    if isinstance(value, bool):
        raise InputError(field, "must be an amount in yuan")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InputError(field, 'must be an amount in yuan, e.g. "99.00"') from None
    if not amount.is_finite():
        raise InputError(field, "must be an amount in yuan")
    return amount


def yuan(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


def as_timestamp(value, field: str, *, nullable: bool = False) -> str | None:
    if value is None or value == "":
        if nullable:
            return None
        raise InputError(field, "is required (yyyy-MM-dd HH:mm:ss)")
    try:
        return jd_timestamp(parse_jd_timestamp(str(value)))
    except ValueError:
        raise InputError(field, "must be a timestamp yyyy-MM-dd HH:mm:ss (Asia/Shanghai)") from None


# --- shops ------------------------------------------------------------------------------------


def default_vender_id(app_key: str) -> str:
    return str(10_000_000 + zlib.crc32(app_key.encode()) % 90_000_000)


def normalize_policy(
    raw, valid_statuses, default_delay: float, field: str = "policy", default_ship_after: float | None = None
) -> dict:
    raw = need_dict(raw if raw is not None else {}, field)
    unknown = set(raw) - {"auto_refund_on", "delay_seconds", "buyer_ships_after_seconds", "app_key"}
    if unknown:
        raise InputError(f"{field}.{sorted(unknown)[0]}", "unknown field")
    statuses = raw.get("auto_refund_on", list(valid_statuses))
    if not isinstance(statuses, list):
        raise InputError(f"{field}.auto_refund_on", "must be a list of writeback statuses")
    statuses = [as_text(s, f"{field}.auto_refund_on", required=True) for s in statuses]
    for status in statuses:
        if status not in valid_statuses:
            raise InputError(f"{field}.auto_refund_on", f"unknown writeback status {status!r}")
    delay = as_number(raw.get("delay_seconds", default_delay), f"{field}.delay_seconds")
    # How long after JD approves a service order the buyer ships the goods back (等待退货 → 等待收货); None: the
    # buyer ships only when told to (`POST /_sandbox/service-orders/<id>/ship`).
    ship_after = raw.get("buyer_ships_after_seconds", default_ship_after)
    if ship_after is not None:
        ship_after = as_number(ship_after, f"{field}.buyer_ships_after_seconds")
    return {"auto_refund_on": statuses, "delay_seconds": delay, "buyer_ships_after_seconds": ship_after}


def normalize_shop(
    raw, valid_statuses, default_delay: float, default_ship_after: float | None = None
) -> dict:
    raw = need_dict(raw, "body")
    app_key = as_text(raw.get("app_key"), "app_key", required=True)
    shop_no = as_text(raw.get("shop_no"), "shop_no") or app_key
    return {
        "app_key": app_key,
        "app_secret": as_text(raw.get("app_secret"), "app_secret", required=True),
        "access_token": as_text(raw.get("access_token"), "access_token", required=True),
        "shop_no": shop_no,
        "name": as_text(raw.get("name"), "name") or shop_no,
        "vender_id": as_text(raw.get("vender_id"), "vender_id") or default_vender_id(app_key),
        "policy": normalize_policy(
            raw.get("policy"), valid_statuses, default_delay, default_ship_after=default_ship_after
        ),
    }


def public_shop(shop: dict) -> dict:
    """A shop as the control API shows it: secrets are write-only."""
    return {k: v for k, v in shop.items() if k not in ("app_secret", "access_token", "oauth")}


# --- orders -----------------------------------------------------------------------------------


def _normalize_line(raw, field: str, index: int) -> dict:
    raw = need_dict(raw, field)
    sku_id = as_text(raw.get("skuId"), f"{field}.skuId") or str(100_000_000_000 + index + 1)
    total = as_int(raw.get("itemTotal", 1), f"{field}.itemTotal", low=1)
    return {
        "skuId": sku_id,
        "outerSkuId": as_text(raw.get("outerSkuId"), f"{field}.outerSkuId"),
        "skuName": as_text(raw.get("skuName"), f"{field}.skuName") or "演示商品",
        "jdPrice": yuan(as_money(raw.get("jdPrice", "0.00"), f"{field}.jdPrice")),
        "itemTotal": str(total),
        "wareId": as_text(raw.get("wareId"), f"{field}.wareId"),
        "productNo": as_text(raw.get("productNo"), f"{field}.productNo"),
    }


def _normalize_coupon(raw, field: str, order_id: str) -> dict:
    raw = need_dict(raw, field)
    coupon = {
        "orderId": order_id,
        # JD's couponDetailList: skuId "" on every entry but a single item's (30-单品促销优惠).
        "skuId": as_text(raw.get("skuId"), f"{field}.skuId"),
        "couponType": as_text(raw.get("couponType"), f"{field}.couponType") or "100-店铺优惠",
        "couponPrice": yuan(as_money(raw.get("couponPrice", "0.00"), f"{field}.couponPrice")),
    }
    if not coupon["skuId"]:
        # An order-level promotion (满减): the sandbox's extension says its threshold and its goods.
        skus = raw.get("skuIds") or []
        if not isinstance(skus, list):
            raise InputError(f"{field}.skuIds", "must be a list")
        coupon["thresholdPrice"] = yuan(
            as_money(raw.get("thresholdPrice", "0.00"), f"{field}.thresholdPrice")
        )
        coupon["promotionId"] = as_text(raw.get("promotionId"), f"{field}.promotionId")
        coupon["skuIds"] = [as_text(sku, f"{field}.skuIds[]") for sku in skus]
    return coupon


def normalize_order(raw, field: str, *, vender_id: str, now_ts: str) -> dict:
    raw = need_dict(raw, field)
    order_id = as_text(raw.get("orderId"), f"{field}.orderId", required=True)
    state = as_text(raw.get("orderState"), f"{field}.orderState") or "WAIT_SELLER_STOCK_OUT"
    if state not in ORDER_STATES:
        raise InputError(f"{field}.orderState", f"unknown JD order state {state!r}")
    pay_type = as_text(raw.get("payType"), f"{field}.payType") or PAY_TYPES[0]
    lines_raw = raw.get("itemInfoList", [])
    if not isinstance(lines_raw, list):
        raise InputError(f"{field}.itemInfoList", "must be a list")
    lines = [_normalize_line(x, f"{field}.itemInfoList[{i}]", i) for i, x in enumerate(lines_raw)]
    coupons_raw = raw.get("couponDetailList", [])
    if not isinstance(coupons_raw, list):
        raise InputError(f"{field}.couponDetailList", "must be a list")
    coupons = [
        _normalize_coupon(x, f"{field}.couponDetailList[{i}]", order_id) for i, x in enumerate(coupons_raw)
    ]

    goods = sum((Decimal(x["jdPrice"]) * int(x["itemTotal"]) for x in lines), Decimal("0"))
    total = as_money(raw.get("orderTotalPrice", goods), f"{field}.orderTotalPrice")
    coupon_sum = sum((Decimal(c["couponPrice"]) for c in coupons), Decimal("0"))
    discount = as_money(raw.get("sellerDiscount", coupon_sum), f"{field}.sellerDiscount")
    freight = as_money(raw.get("freightPrice", "0.00"), f"{field}.freightPrice")
    seller_price = as_money(raw.get("orderSellerPrice", total - discount), f"{field}.orderSellerPrice")
    payment = as_money(raw.get("orderPayment", seller_price + freight), f"{field}.orderPayment")

    start = as_timestamp(raw.get("orderStartTime") or now_ts, f"{field}.orderStartTime")
    paid = as_timestamp(raw.get("paymentConfirmTime") or start, f"{field}.paymentConfirmTime")
    consignee = need_dict(raw.get("consigneeInfo", {}), f"{field}.consigneeInfo")
    return {
        "orderId": order_id,
        "venderId": as_text(raw.get("venderId"), f"{field}.venderId") or vender_id,
        "pin": as_text(raw.get("pin"), f"{field}.pin") or "jd_demo_buyer",
        "payType": pay_type,
        "orderTotalPrice": yuan(total),
        "orderSellerPrice": yuan(seller_price),
        "orderPayment": yuan(payment),
        "freightPrice": yuan(freight),
        "sellerDiscount": yuan(discount),
        "orderState": state,
        "orderStateRemark": as_text(raw.get("orderStateRemark"), f"{field}.orderStateRemark")
        or ORDER_STATES[state],
        "orderStartTime": start,
        "paymentConfirmTime": paid,
        "modified": as_timestamp(raw.get("modified") or paid, f"{field}.modified"),
        "consigneeInfo": {
            "fullname": as_text(consignee.get("fullname"), f"{field}.consigneeInfo.fullname") or "张三",
            "mobile": as_text(consignee.get("mobile"), f"{field}.consigneeInfo.mobile") or "138****0000",
            "fullAddress": as_text(consignee.get("fullAddress"), f"{field}.consigneeInfo.fullAddress")
            or "北京市大兴区亦庄经济开发区科创十一街18号",
        },
        "itemInfoList": lines,
        "couponDetailList": coupons,
    }


# --- refund applications ----------------------------------------------------------------------

# What a seed may set on a refund application: JD's own fields (the SDKs' RefundApplyVo), then the
# sandbox's. `skuId` + `num` are a seed shorthand for a one-SKU `skuVoList`; `modified` is the
# sandbox's bookkeeping (never on the wire).
JD_REFUND_FIELDS = (
    "id",
    "orderId",
    "buyerId",
    "buyerName",
    "applyTime",
    "checkTime",
    "applyRefundSum",
    "status",
    "reason",
    "checkUserName",
    "checkRemark",
    "skuVoList",
)
# A refund application is JD's refund before receipt (取消订单): returns, exchanges and their parcels
# are after-sales service orders (sandbox/service_orders.py). `skuId`/`num` are a seed's shorthand for
# a skuVoList of one SKU; `modified` is the sandbox's own clock of changes (not on JD's row).
REFUND_FIELDS = (*JD_REFUND_FIELDS, "skuId", "num", "modified")


def _normalize_sku(raw, field: str) -> dict:
    raw = need_dict(raw, field)
    unknown = set(raw) - {"skuId", "skuName", "skuCount", "skuUuid"}
    if unknown:
        raise InputError(f"{field}.{sorted(unknown)[0]}", "unknown field")
    return {
        "skuId": as_text(raw.get("skuId"), f"{field}.skuId", required=True),
        "skuName": as_text(raw.get("skuName"), f"{field}.skuName"),
        "skuCount": as_int(raw.get("skuCount", 1), f"{field}.skuCount", low=1),
    }


def _normalize_goods(raw, field: str) -> list[dict]:
    if raw.get("skuVoList") is not None:
        if raw.get("skuId") not in (None, "") or raw.get("num") is not None:
            raise InputError(f"{field}.skuId", "give either skuVoList or the skuId/num shorthand, not both")
        goods = raw["skuVoList"]
        if not isinstance(goods, list):
            raise InputError(f"{field}.skuVoList", "must be a list")
        return [_normalize_sku(x, f"{field}.skuVoList[{i}]") for i, x in enumerate(goods)]
    sku = as_text(raw.get("skuId"), f"{field}.skuId")
    if not sku:
        return []
    return [{"skuId": sku, "skuName": "", "skuCount": as_int(raw.get("num", 1), f"{field}.num", low=1)}]


def normalize_refund(raw, field: str, *, now_ts: str) -> dict:
    raw = need_dict(raw, field)
    unknown = set(raw) - set(REFUND_FIELDS)
    if unknown:
        raise InputError(f"{field}.{sorted(unknown)[0]}", "unknown refund application field")
    if raw.get("id") in (None, ""):
        raise InputError(f"{field}.id", "is required")
    if raw.get("orderId") in (None, ""):
        raise InputError(f"{field}.orderId", "is required")
    apply_time = as_timestamp(raw.get("applyTime") or now_ts, f"{field}.applyTime")
    check_time = as_timestamp(raw.get("checkTime"), f"{field}.checkTime", nullable=True)
    buyer_id = as_text(raw.get("buyerId"), f"{field}.buyerId") or "jd_demo_buyer"
    return {
        "id": as_int(raw["id"], f"{field}.id", low=1),
        "orderId": as_int(raw["orderId"], f"{field}.orderId", low=1),
        "buyerId": buyer_id,
        "buyerName": as_text(raw.get("buyerName"), f"{field}.buyerName") or buyer_id,
        "applyTime": apply_time,
        "checkTime": check_time,
        "applyRefundSum": as_int(raw.get("applyRefundSum", 0), f"{field}.applyRefundSum", low=0),
        "status": as_int(raw.get("status", 0), f"{field}.status", low=0, high=11),
        "reason": as_text(raw.get("reason"), f"{field}.reason") or "不想要了",
        "checkUserName": as_text(raw.get("checkUserName"), f"{field}.checkUserName"),
        "checkRemark": as_text(raw.get("checkRemark"), f"{field}.checkRemark"),
        "skuVoList": _normalize_goods(raw, field),
        "modified": as_timestamp(raw.get("modified") or check_time or apply_time, f"{field}.modified"),
    }


def refund_row(refund: dict, *, show_sku: bool) -> dict:
    """A refund application as queryPageList answers it: JD's fields with JD's types (the SDKs'
    RefundApplyVo: id Long, orderId String, status Long, applyRefundSum Double (fen), skuVoList only
    when asked with showSku), nulls left out."""
    row = {
        "id": refund["id"],
        "orderId": str(refund["orderId"]),
        "buyerId": refund["buyerId"],
        "buyerName": refund["buyerName"],
        "applyTime": refund["applyTime"],
        "checkTime": refund["checkTime"],
        "applyRefundSum": refund["applyRefundSum"],
        "status": refund["status"],
        "checkUserName": refund["checkUserName"],
        "checkRemark": refund["checkRemark"],
        "reason": refund["reason"],
        # In JD's row; their meaning is not public and the sandbox gives them no meaning.
        "systemId": 0,
        "storeId": 0,
        "partRefundType": 0,
    }
    if show_sku:
        row["skuVoList"] = [
            {
                "skuId": _jd_long(sku["skuId"]),
                "skuUuid": "",
                "skuName": sku["skuName"],
                "skuCount": sku["skuCount"],
            }
            for sku in refund["skuVoList"]
        ]
    return {k: v for k, v in row.items() if v is not None}


def _jd_long(value: str):
    return int(value) if value.isascii() and value.isdigit() else value


# --- faults -----------------------------------------------------------------------------------


def _normalize_fail_next(raw, field: str) -> dict:
    raw = need_dict(raw, field)
    kind = raw.get("kind")
    entry: dict = {"kind": kind}
    if kind == "jos":
        entry["code"] = as_text(raw.get("code"), f"{field}.code", required=True)
    elif kind == "http":
        entry["status"] = as_int(raw.get("status", 503), f"{field}.status", low=400, high=599)
    elif kind in ("hang", "drop_after_apply"):
        entry["seconds"] = as_number(raw.get("seconds", DEFAULT_HANG_SECONDS), f"{field}.seconds")
    else:
        raise InputError(f"{field}.kind", "must be one of jos, http, hang, drop_after_apply")
    if raw.get("method"):
        entry["method"] = as_text(raw["method"], f"{field}.method")
    unknown = set(raw) - {"kind", "code", "status", "seconds", "method"}
    if unknown:
        raise InputError(f"{field}.{sorted(unknown)[0]}", "unknown field")
    return entry


def _normalize_corrupt_row(raw, field: str) -> dict:
    """`{"key": "<refund id or orderId>", "set": {"field" or "a.b": any JSON}, "unset": ["field"]}`:
    values are sent as given, unchecked: that is the point."""
    raw = need_dict(raw, field)
    unknown = set(raw) - {"key", "set", "unset"}
    if unknown:
        raise InputError(f"{field}.{sorted(unknown)[0]}", "unknown field")
    changes = need_dict(raw.get("set", {}), f"{field}.set")
    unset = raw.get("unset", [])
    if not isinstance(unset, list) or not all(isinstance(name, str) and name for name in unset):
        raise InputError(f"{field}.unset", "must be a list of field names")
    return {"key": as_text(raw.get("key"), f"{field}.key", required=True), "set": changes, "unset": unset}


def normalize_faults(raw) -> dict:
    raw = need_dict(raw, "body")
    unknown = set(raw) - set(FAULT_FIELDS) - {"app_key"}
    if unknown:
        raise InputError(sorted(unknown)[0], "unknown fault field")
    faults: dict = {}
    for name in ("error_rate", "http_5xx_rate", "hang_rate"):
        if name in raw:
            faults[name] = as_number(raw[name], name, low=0.0, high=1.0)
    if "latency_ms" in raw:
        faults["latency_ms"] = as_number(raw["latency_ms"], "latency_ms")
    if "hang_seconds" in raw:
        faults["hang_seconds"] = as_number(raw["hang_seconds"], "hang_seconds")
    if raw.get("call_limit_per_second") is not None:
        faults["call_limit_per_second"] = as_int(raw["call_limit_per_second"], "call_limit_per_second", low=0)
    if "error_codes" in raw:
        codes = raw["error_codes"]
        if not isinstance(codes, list) or not codes:
            raise InputError("error_codes", "must be a non-empty list of JOS error codes")
        faults["error_codes"] = [as_text(c, "error_codes", required=True) for c in codes]
    if "revoked" in raw:
        if not isinstance(raw["revoked"], bool):
            raise InputError("revoked", "must be true or false")
        faults["revoked"] = raw["revoked"]
    if "corrupt_rows" in raw:
        rows = raw["corrupt_rows"]
        if not isinstance(rows, list):
            raise InputError("corrupt_rows", "must be a list")
        faults["corrupt_rows"] = [_normalize_corrupt_row(x, f"corrupt_rows[{i}]") for i, x in enumerate(rows)]
    if "answer_padding_bytes" in raw:
        faults["answer_padding_bytes"] = as_int(
            raw["answer_padding_bytes"], "answer_padding_bytes", low=0, high=MAX_ANSWER_PADDING_BYTES
        )
    if "fail_next" in raw:
        queue = raw["fail_next"]
        if not isinstance(queue, list):
            raise InputError("fail_next", "must be a list")
        faults["fail_next"] = [_normalize_fail_next(x, f"fail_next[{i}]") for i, x in enumerate(queue)]
    return faults
