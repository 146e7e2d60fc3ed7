"""The other way round, for the demo and tests only: a local slip as JD's refund application row,
so the SA sandbox (which plays JD) can be given the back office's demo slips."""

from __future__ import annotations

from refunds.models import PlatformStatus

from .signing import jd_timestamp

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
    """A local slip as a JD refund application (queryPageList item, with the sandbox's return
    extension):
    the demo gives the SA sandbox the local demo slips, so writing them back reaches a JD that knows
    them, and a sync of them changes nothing."""
    status, return_state = JD_STATUS_FOR_PLATFORM[slip.platform_status]
    sku = slip.oid[len(slip.tid) + 1 :] if slip.oid.startswith(f"{slip.tid}-") else ""
    return {
        "id": int(slip.refund_no),
        "orderId": int(slip.tid),
        "skuVoList": [{"skuId": sku, "skuCount": slip.num}] if sku else [],
        "afsType": int(slip.refund_type),
        "returnState": return_state,
        "status": status,
        "reason": slip.reason,
        "buyerDesc": slip.description,
        "buyerName": slip.buyer_nick,
        "applyRefundSum": int(slip.refund_amount * 100),
        "applyTime": jd_timestamp(slip.apply_time) if slip.apply_time else None,
    }
