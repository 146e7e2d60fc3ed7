"""The other way round, for the demo and tests only: a local slip as JD's row of the object it came
from (a refund application, or an after-sales service order), so the SA sandbox (which plays JD) can
be given the back office's demo slips, and a sync of them changes nothing."""

from __future__ import annotations

from refunds.models import PlatformObject, PlatformStatus, RefundType

from .signing import jd_timestamp

# A refund application's JD status for a local slip's platform status, chosen so that
# `platform_status_for` maps it back to the same platform status. A refund application is 退款 before
# receipt: it is never 等待退货 / 等待收货 (returns are service orders).
JD_STATUS_FOR_PLATFORM = {
    PlatformStatus.APPLIED: 0,
    PlatformStatus.REFUNDED: 3,
    PlatformStatus.SELLER_REFUSED: 2,
    PlatformStatus.CANCELLED: 11,
}

# A service order's serviceStatus for a local slip's platform status (asc_codes maps it back; 等待收货
# needs the buyer's waybill on the row) and, when JD finished it, its processResult by type.
SERVICE_STATUS_FOR_PLATFORM = {
    PlatformStatus.APPLIED: 10001,
    PlatformStatus.AWAITING_RETURN: 10005,
    PlatformStatus.AWAITING_RECEIPT: 10005,
    PlatformStatus.REFUNDED: 10010,
    PlatformStatus.SERVICE_COMPLETED: 10010,
    PlatformStatus.SELLER_REFUSED: 10004,
    PlatformStatus.CANCELLED: 10011,
}
PROCESS_RESULT_FOR = {
    (RefundType.RETURN, PlatformStatus.REFUNDED): 40,  # 退货
    (RefundType.RETURN, PlatformStatus.SERVICE_COMPLETED): 70,  # 原返
    (RefundType.EXCHANGE, PlatformStatus.SERVICE_COMPLETED): 80,  # 换货
    (RefundType.REPAIR, PlatformStatus.SERVICE_COMPLETED): 2,  # 维修完成
}
CUSTOMER_EXPECT_FOR_TYPE = {
    RefundType.RETURN: 10,
    RefundType.REFUND_KEEP_GOODS: 11,
    RefundType.EXCHANGE: 20,
    RefundType.REPAIR: 30,
    RefundType.REISSUE: 80,
}
# Which JD object a slip of this type comes from: refunds before receipt are refund applications,
# everything after receipt is a service order.
OBJECT_FOR_TYPE = {
    RefundType.REFUND: PlatformObject.REFUND_APPLY,
    **{refund_type: PlatformObject.SERVICE_ORDER for refund_type in CUSTOMER_EXPECT_FOR_TYPE},
}


def jd_state_code(refund_type: int, platform_status: int) -> str:
    """The JD state code (as a slip stores it) a local slip of this type and status has at JD."""
    if OBJECT_FOR_TYPE[RefundType(refund_type)] == PlatformObject.SERVICE_ORDER:
        return str(SERVICE_STATUS_FOR_PLATFORM[platform_status])
    return str(JD_STATUS_FOR_PLATFORM[platform_status])


def default_waybill(service_id) -> str:
    """The buyer's return waybill of a demo service order shipped back (the sandbox's own default)."""
    return f"JDVA{int(service_id):014d}"


def _sku_of(slip) -> str:
    return slip.oid[len(slip.tid) + 1 :] if slip.oid.startswith(f"{slip.tid}-") else ""


def jd_refund_item(slip) -> dict:
    """A local 退款 slip as a JD refund application (a queryPageList row)."""
    sku = _sku_of(slip)
    return {
        "id": int(slip.refund_no),
        "orderId": int(slip.tid),
        "skuVoList": [{"skuId": sku, "skuCount": slip.num}] if sku else [],
        "status": JD_STATUS_FOR_PLATFORM[slip.platform_status],
        "reason": slip.reason,
        "buyerName": slip.buyer_nick,
        "applyRefundSum": int(slip.refund_amount * 100),
        "applyTime": jd_timestamp(slip.apply_time) if slip.apply_time else None,
    }


def jd_service_order_item(slip) -> dict:
    """A local slip that came from a service order as JD's service order (the sandbox's seed, JD's
    field names): same service id, type, state and, once shipped back, the waybill."""
    status = SERVICE_STATUS_FOR_PLATFORM[slip.platform_status]
    if slip.platform_status_code.isdigit():
        status = int(slip.platform_status_code)
    item = {
        "serviceId": int(slip.refund_no),
        "orderId": int(slip.tid),
        "skuId": _sku_of(slip) or "1",
        "serviceCount": slip.num,
        "customerExpect": CUSTOMER_EXPECT_FOR_TYPE[RefundType(slip.refund_type)],
        "serviceStatus": status,
        "actualPayPrice": str(slip.refund_amount),
        "questionTypeCid2Name": slip.reason or "7天无理由退货",
        "questionDesc": slip.description,
        "customerName": slip.buyer_nick,
        "applyTime": jd_timestamp(slip.apply_time) if slip.apply_time else None,
    }
    process_result = PROCESS_RESULT_FOR.get((slip.refund_type, slip.platform_status))
    if process_result is not None:
        item["processResult"] = process_result
    shipped = slip.platform_status == PlatformStatus.AWAITING_RECEIPT
    if shipped or (slip.return_logistics_no and slip.platform_status != PlatformStatus.AWAITING_RETURN):
        item["expressCode"] = slip.return_logistics_no or default_waybill(slip.refund_no)
        item["expressCompany"] = slip.return_logistics_company
    return {k: v for k, v in item.items() if v not in (None, "")}


def jd_item(slip) -> tuple[str, dict]:
    """(the slip's JD object, its row there)."""
    if slip.platform_object == PlatformObject.SERVICE_ORDER:
        return PlatformObject.SERVICE_ORDER, jd_service_order_item(slip)
    return PlatformObject.REFUND_APPLY, jd_refund_item(slip)
