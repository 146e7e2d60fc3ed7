"""JD's after-sales service orders (服务单, `jingdong.asc.*`) → the ERP's raw refund slips.

On JD a refund asked before the buyer confirmed receipt is a refund application (取消订单); everything
after receipt — 退货, 换货, 维修, 补发 — is a service order. One row of `jingdong.asc.query.list` is one
service order for one SKU of one order (serviceCount of it); it becomes one raw refund slip whose
平台退款单号 is the service id, whose 原始子单号 is `orderId-skuId` (as for every JD slip), and which
remembers that it came from a service order (`platform_object`), so every writeback goes to the object
JD's SA acts on.

Pure functions, no database. JD's service-order codes are in `asc_codes` (shared with the SA sandbox;
public sources in docs/sandbox.md, "JD's after-sales service orders"). A row this module cannot store
as it is raises `BadRow` naming the field, the value and what is wrong: the sync sets it aside and
saves the rest.
"""

from __future__ import annotations

from datetime import datetime

from refunds.models import PlatformStatus, RefundType

from . import asc_codes
from .asc_codes import CUSTOMER_EXPECT, SERVICE_STATES
from .mapping import (
    LINE_LEN,
    MAX_QUANTITY,
    REFUND_LEN,
    BadRow,
    identifier,
    integer,
    not_ahead,
    number_id,
    oid_for,
    shown,
    text,
    yuan_amount,
)
from .signing import SHANGHAI, parse_jd_timestamp

# Which JD object a slip came from, as the slip remembers it (refunds.models.PlatformObject).
SERVICE_ORDER = "service_order"

REFUND_TYPE_FOR = {expect: RefundType(value) for expect, value in asc_codes.REFUND_TYPE_FOR.items()}
# Not the ERP's after-sales: set aside with the reason, never guessed into a type.
NOT_OURS = {
    1: "售前退款是退款申请单（取消订单），由退款申请单下载，服务单中不重复保存",
}
SERVICE_STATUS_LABELS = asc_codes.SERVICE_STATUS


def platform_status(
    code: int, refund_type: int, *, waybill: bool, process_result: int | None
) -> PlatformStatus:
    """What CS see as 平台状态 for a service order (asc_codes holds the rule)."""
    return PlatformStatus(
        asc_codes.platform_status(code, int(refund_type), waybill=waybill, process_result=process_result)
    )


# --- one row --------------------------------------------------------------------------------------------
# Times before this are not JD's epoch milliseconds (seconds, or a default 0).
EARLIEST_MS = 946_684_800_000  # 2000-01-01


def _bad(label: str, key: str, value, problem: str) -> BadRow:
    return BadRow(f"{label}（{key}）{problem}，值为 {shown(value)}")


def _required_code(label: str, key: str, value, choices) -> int:
    if value is None or value == "":
        raise BadRow(f"缺少{label}（{key}）")
    return integer(label, key, value, default=0, choices=choices)


def moment(label: str, key: str, value) -> datetime | None:
    """A time as JD's service orders carry it: epoch milliseconds (the SDK's `Date`); a digit string or
    `yyyy-MM-dd HH:mm:ss` is taken too."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            return parse_jd_timestamp(value.strip())
        except ValueError:
            raise _bad(label, key, value, "不是有效的时间（应为毫秒时间戳）") from None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _bad(label, key, value, "应为毫秒时间戳")
    ms = int(value)
    if ms < EARLIEST_MS:
        raise _bad(label, key, value, "早于2000年，不是毫秒时间戳")
    try:
        return datetime.fromtimestamp(ms / 1000, tz=SHANGHAI)
    except (OverflowError, OSError, ValueError):
        raise _bad(label, key, value, "超出时间范围") from None


def platform_id(item) -> str:
    """The row's service id for the set-aside record, as far as it can be read."""
    value = item.get("serviceId") if isinstance(item, dict) else None
    return str(value)[:64] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def service_order_fields(item, notes: list | None = None) -> dict:
    """One jingdong.asc.query.list row → RawRefund fields (and where it came from). Raises BadRow;
    `notes` gets what was cut."""
    notes = [] if notes is None else notes
    if not isinstance(item, dict):
        raise _bad("服务单", "pageResult.data[]", item, "应为对象")
    service_no = number_id("服务单号", "serviceId", item.get("serviceId"), REFUND_LEN["refund_no"])
    tid = number_id("订单号", "orderId", item.get("orderId"), REFUND_LEN["tid"])
    sku = identifier("SKU", "skuId", item.get("skuId"), LINE_LEN["spec_no"])
    expect = _required_code("客户期望", "customerExpect", item.get("customerExpect"), tuple(CUSTOMER_EXPECT))
    if expect not in REFUND_TYPE_FOR:
        why = NOT_OURS.get(expect) or (
            f"客户期望“{CUSTOMER_EXPECT[expect]}”不是本系统处理的售后类型（退货、换货、维修、补发商品、仅退款）"
        )
        raise BadRow(f"客户期望（customerExpect）为 {expect}：{why}")
    refund_type = REFUND_TYPE_FOR[expect]
    code = _required_code("服务单状态", "serviceStatus", item.get("serviceStatus"), tuple(SERVICE_STATES))
    process_result = integer("处理结果", "processResult", item.get("processResult"), default=0) or None
    waybill = _waybill(item.get("expressCode"), notes)
    name = text("买家姓名", "customerName", item.get("customerName"), notes, REFUND_LEN["buyer_nick"])
    buyer = name or identifier(
        "买家账号", "customerPin", item.get("customerPin"), REFUND_LEN["buyer_nick"], required=False
    )
    reason = item.get("questionTypeCid2Name") or item.get("questionTypeCid1Name") or CUSTOMER_EXPECT[expect]
    apply_time = moment("申请时间", "applyTime", item.get("applyTime"))
    approve_time = moment("审核时间", "approveTime", item.get("approveTime"))
    updated = moment("更新时间", "updateTime", item.get("updateTime")) or moment(
        "更新时间", "updateDate", item.get("updateDate")
    )
    # Only a return and a refund-only service order refund money; an exchange, repair or reissue
    # carries the line's price, which is not owed to the buyer.
    refunds_money = refund_type in (RefundType.RETURN, RefundType.REFUND_KEEP_GOODS)
    price = yuan_amount("实付金额", "actualPayPrice", item.get("actualPayPrice"))
    fields = {
        "refund_no": service_no,
        "tid": tid,
        "oid": identifier("原始子单号", "orderId-skuId", oid_for(tid, sku), REFUND_LEN["oid"]),
        "refund_type": refund_type,
        "platform_status": platform_status(
            code, refund_type, waybill=bool(waybill), process_result=process_result
        ),
        "platform_status_code": str(code),
        "reason": text("退款原因", "questionTypeCid2Name", reason, notes, REFUND_LEN["reason"]),
        "refund_amount": price if refunds_money else price * 0,
        "num": integer(
            "售后数量", "serviceCount", item.get("serviceCount"), default=1, low=1, high=MAX_QUANTITY
        ),
        "buyer_nick": buyer,
        "apply_time": apply_time,
        "check_time": approve_time,
        "platform_modified": not_ahead(
            "平台更新时间",
            "updateTime" if updated else "approveTime" if approve_time else "applyTime",
            updated or approve_time or apply_time,
        ),
        # JD keeps the carrier with the freight (jingdong.asc.freight.view), not on the list's row:
        # the waybill is what the warehouse scans.
        "return_logistics_company": text(
            "退回物流公司",
            "expressCompany",
            item.get("expressCompany"),
            notes,
            REFUND_LEN["return_logistics_company"],
        ),
        "return_logistics_no": waybill,
        "platform_object": SERVICE_ORDER,
        "platform_id": service_no,
        # One service order is one SKU: the slip is its order line, intercepted like any other.
        "needs_manual_interception": False,
    }
    # The buyer's words are on asc.query.view's row, not on the list's: a row without them leaves the
    # slip's description as it is (the ingest writes only the fields a row has).
    if "questionDesc" in item:
        fields["description"] = text("买家描述", "questionDesc", item.get("questionDesc"), notes)
    return fields


def apply_id(item) -> str:
    """The after-sales application behind a service order (申请单号, `applyId`): what the other 退货入仓
    candidate (refundapply.updateWarehouseStatus) names. Raises BadRow when it is not one of JD's ids."""
    return number_id("申请单号", "applyId", item.get("applyId") if isinstance(item, dict) else None, 64)


def _waybill(value, notes: list) -> str:
    """The buyer's return waybill: never cut (a cut one finds another parcel); one that does not fit
    is left out and said so, the slip is still worth having."""
    try:
        return identifier(
            "退回物流单号", "expressCode", value, REFUND_LEN["return_logistics_no"], required=False
        )
    except BadRow as problem:
        notes.append(f"{problem.reason}，未保存")
        return ""
