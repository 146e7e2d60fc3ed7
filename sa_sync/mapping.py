"""JD's data → ours. The one place that knows JD's codes; pure functions, no database.

原始子单号 (oid) for JD is `orderId-skuId`: JD has no order-line id, and one SKU appears once per order.
"""

from __future__ import annotations

from decimal import Decimal

from orders.models import OrderStatus, PayType
from refunds.models import PlatformStatus, RefundType

from . import jd_codes
from .jd_codes import REFUND_APPLY_STATUS
from .signing import jd_timestamp, parse_jd_timestamp

# jingdong.pop.order.search orderState → our order status, for an order we see for the first time.
# An order already known keeps any status it has moved to locally (see `merged_order_status`).
JD_ORDER_STATE = {
    "WAIT_SELLER_STOCK_OUT": OrderStatus.AWAITING_CS_REVIEW,  # 等待出库: the ERP's own flow starts
    "WAIT_SELLER_DELIVERY": OrderStatus.AWAITING_CS_REVIEW,
    "LOCKED": OrderStatus.AWAITING_CS_REVIEW,
    "POP_ORDER_PAUSE": OrderStatus.AWAITING_CS_REVIEW,
    "WAIT_GOODS_RECEIVE_CONFIRM": OrderStatus.SHIPPED,  # 等待确认收货
    "FINISHED_L": OrderStatus.COMPLETED,
    "TRADE_CANCELED": OrderStatus.CANCELLED,
}

# queryPageList status → platform status: JD's state table (sa_sync.jd_codes) decides, for the sync,
# the fresh read before a writeback and the sandbox alike.
JD_REFUND_STATUS_LABELS = REFUND_APPLY_STATUS


def platform_status_for(jd_status: int, refund_type: int, return_state: int = 0) -> PlatformStatus:
    return PlatformStatus(jd_codes.platform_status(jd_status, int(refund_type), return_state))


def merged_order_status(local: int | None, incoming: int) -> int:
    """Never move an order backwards: the ERP is ahead of JD (JD still shows 等待出库 while our
    warehouse has it). A JD cancellation counts only while the order has not left review (≤ 35);
    later, cancelling is the interception's job, not the sync's."""
    if local is None:
        return incoming
    if incoming == OrderStatus.CANCELLED:
        return OrderStatus.CANCELLED if local <= OrderStatus.AWAITING_FINANCE_REVIEW else local
    if local == OrderStatus.CANCELLED:
        return local
    return max(local, incoming)


def jd_time(value):
    return parse_jd_timestamp(value) if value else None


def yuan(value) -> Decimal:
    return Decimal(str(value or "0")).quantize(Decimal("0.01"))


def oid_for(order_id, sku_id) -> str:
    return f"{order_id}-{sku_id}"


def order_fields(item: dict) -> dict:
    consignee = item.get("consigneeInfo") or {}
    return {
        "tid": str(item["orderId"]),
        "status": JD_ORDER_STATE.get(item.get("orderState", ""), OrderStatus.AWAITING_CS_REVIEW),
        "platform_status": item.get("orderStateRemark") or item.get("orderState", ""),
        "pay_type": PayType.COD if str(item.get("payType", "")).startswith("1") else PayType.ONLINE,
        "buyer_nick": item.get("pin", "") or "",
        "receiver_name": consignee.get("fullname", "") or "",
        "receiver_mobile": consignee.get("mobile", "") or "",
        "receiver_address": (consignee.get("fullAddress", "") or "")[:255],
        "goods_amount": yuan(item.get("orderTotalPrice")),
        "discount": yuan(item.get("sellerDiscount")),
        "post_amount": yuan(item.get("freightPrice")),
        "paid": yuan(item.get("orderPayment")),
        "trade_time": jd_time(item.get("orderStartTime")),
        "pay_time": jd_time(item.get("paymentConfirmTime")),
        "platform_modified": jd_time(item.get("modified")),
    }


def line_fields(order_id, item: dict, coupons: dict) -> dict:
    num = int(item.get("itemTotal") or 1)
    price = yuan(item.get("jdPrice"))
    discount = coupons.get(str(item.get("skuId")), Decimal("0"))
    return {
        "oid": oid_for(order_id, item["skuId"]),
        "goods_no": str(item.get("wareId", "") or ""),
        "spec_no": str(item.get("outerSkuId", "") or item.get("skuId", "")),
        "goods_name": item.get("skuName", "") or "",
        "num": num,
        "price": price,
        "discount": discount,
        "paid": price * num - discount,
    }


def coupons_by_sku(item: dict) -> dict:
    total: dict[str, Decimal] = {}
    for coupon in item.get("couponDetailList") or []:
        sku = str(coupon.get("skuId", ""))
        if sku:
            total[sku] = total.get(sku, Decimal("0")) + yuan(coupon.get("couponPrice"))
    return total


def refund_fields(item: dict) -> dict:
    refund_type = int(item.get("afsType") or RefundType.REFUND)
    jd_status = int(item.get("status") or 0)
    sku = item.get("skuId")
    return {
        "refund_no": str(item["id"]),
        "tid": str(item["orderId"]),
        "oid": oid_for(item["orderId"], sku) if sku else "",
        "refund_type": refund_type,
        "platform_status": platform_status_for(jd_status, refund_type, int(item.get("returnState") or 0)),
        "platform_status_code": str(jd_status),
        "reason": (item.get("reason") or "")[:128],
        "description": item.get("buyerDesc") or "",
        "refund_amount": (Decimal(int(item.get("applyRefundSum") or 0)) / 100).quantize(Decimal("0.01")),
        "num": int(item.get("num") or 1),
        "buyer_nick": item.get("buyerName") or item.get("buyerId") or "",
        "apply_time": jd_time(item.get("applyTime")),
        "check_time": jd_time(item.get("checkTime")),
        "platform_modified": jd_time(item.get("modified") or item.get("checkTime") or item.get("applyTime")),
    }


# The other way, for the demo only: what JD holds for a local slip (status, returnState), chosen so
# that `platform_status_for` maps it back to the same platform status.
JD_STATUS_FOR_PLATFORM = {
    PlatformStatus.APPLIED: (0, 0),
    PlatformStatus.AWAITING_RETURN: (1, 1),
    PlatformStatus.AWAITING_RECEIPT: (1, 2),
    PlatformStatus.REFUNDED: (3, 0),
    PlatformStatus.SELLER_REFUSED: (2, 0),
    PlatformStatus.CANCELLED: (11, 0),
}


def jd_refund_item(slip) -> dict:
    """A local slip as a JD refund application (queryPageList item, with the sandbox's extensions):
    the demo gives the SA sandbox the local demo slips, so writing them back reaches a JD that knows
    them, and a sync of them changes nothing."""
    status, return_state = JD_STATUS_FOR_PLATFORM[slip.platform_status]
    sku = slip.oid[len(slip.tid) + 1 :] if slip.oid.startswith(f"{slip.tid}-") else ""
    return {
        "id": int(slip.refund_no),
        "orderId": int(slip.tid),
        "skuId": sku,
        "num": slip.num,
        "afsType": int(slip.refund_type),
        "returnState": return_state,
        "status": status,
        "reason": slip.reason,
        "buyerDesc": slip.description,
        "buyerName": slip.buyer_nick,
        "applyRefundSum": int(slip.refund_amount * 100),
        "applyTime": jd_timestamp(slip.apply_time) if slip.apply_time else None,
    }
