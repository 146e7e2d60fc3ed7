"""JD's after-sales service orders (服务单, `jingdong.asc.*`) → the ERP's raw refund slips.

On JD a refund asked before the buyer confirmed receipt is a refund application (取消订单); everything
after receipt — 退货, 换货, 维修, 补发 — is a service order. One row of `jingdong.asc.query.list` is one
service order for one SKU of one order (serviceCount of it); it becomes one raw refund slip whose
平台退款单号 is the service id, whose 原始子单号 is `orderId-skuId` (as for every JD slip), and which
remembers that it came from a service order (`platform_object`), so every writeback goes to the object
JD's SA acts on.

Pure functions, no database. The tables below are the one place that knows JD's service-order codes;
their public sources are in docs/sandbox.md ("Service orders"). A row this module cannot store as it is
raises `BadRow` naming the field, the value and what is wrong: the sync sets it aside and saves the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from refunds.models import PlatformStatus, RefundType
from sa_sync.mapping import (
    LINE_LEN,
    MAX_QUANTITY,
    REFUND_LEN,
    BadRow,
    identifier,
    integer,
    number_id,
    oid_for,
    shown,
    text,
    yuan_amount,
)
from sa_sync.signing import SHANGHAI, parse_jd_timestamp

# Which JD object a slip came from, as the slip remembers it.
SERVICE_ORDER = "service_order"

# --- customerExpect (客户期望) → the ERP's refund type ---------------------------------------------------
CUSTOMER_EXPECT = {
    1: "售前退款",
    10: "退货",
    11: "仅退款",
    20: "换货",
    30: "维修",
    40: "大家电安装",
    50: "大家电移机",
    60: "大家电增值服务",
    70: "上门维修",
    80: "补发商品",
    90: "优鲜赔",
    100: "试用收回",
}
REFUND_TYPE_FOR = {
    10: RefundType.RETURN,
    11: RefundType.REFUND_KEEP_GOODS,
    20: RefundType.EXCHANGE,
    30: RefundType.REPAIR,
    80: RefundType.REISSUE,
}
# Not the ERP's after-sales: set aside with the reason, never guessed into a type.
NOT_OURS = {
    1: "售前退款是退款申请单（取消订单），由退款申请单下载，服务单中不重复保存",
}
# The buyer sends goods back for these, so the slip waits for the parcel (等待退货 → 等待收货).
GOODS_COME_BACK = frozenset({RefundType.RETURN, RefundType.EXCHANGE, RefundType.REPAIR})

# processResult (处理结果) of a completed 退货 that JD refunded.
PROCESS_RESULT_RETURN_REFUNDED = 40


# --- serviceStatus (服务单状态) --------------------------------------------------------------------------
REVIEW, GOODS, PROCESSING, CLOSED = "review", "goods", "processing", "closed"


@dataclass(frozen=True)
class ServiceState:
    code: int
    label: str
    # review: JD has not approved yet; goods: approved, waiting for the buyer's goods (待收货);
    # processing: the goods are in (or nothing comes back), the merchant processes; closed: over.
    stage: str
    # The platform status once closed (10010 完成 depends on the outcome: `platform_status`).
    closed_as: int | None = None
    # Whether JD acts on 退货入仓 (收货登记) in this state: only while it waits for the goods.
    goods_in_warehouse: bool = False
    # Said to CS when the state does not take 退货入仓.
    refusal: str = ""


SERVICE_STATES = {
    s.code: s
    for s in [
        ServiceState(10000, "待审核领取", REVIEW, refusal="服务单尚未审核通过"),
        ServiceState(10001, "待审核", REVIEW, refusal="服务单尚未审核通过"),
        ServiceState(10002, "待客户反馈", REVIEW, refusal="服务单尚未审核通过"),
        ServiceState(10012, "客户已反馈", REVIEW, refusal="服务单尚未审核通过"),
        ServiceState(10013, "待审核和待客户反馈", REVIEW, refusal="服务单尚未审核通过"),
        ServiceState(10004, "审核关闭", CLOSED, PlatformStatus.SELLER_REFUSED, refusal="服务单已审核关闭"),
        ServiceState(10005, "待收货", GOODS, goods_in_warehouse=True),
        ServiceState(10006, "待处理领取", PROCESSING, refusal="服务单已收货登记，待商家处理"),
        ServiceState(10007, "待处理", PROCESSING, refusal="服务单已收货登记，待商家处理"),
        ServiceState(10009, "待用户确认", PROCESSING, refusal="服务单已处理，待用户确认"),
        ServiceState(10041, "提交退款申请", PROCESSING, refusal="服务单已提交退款申请"),
        ServiceState(10010, "完成", CLOSED, PlatformStatus.SERVICE_COMPLETED, refusal="服务单已完成"),
        ServiceState(10011, "取消", CLOSED, PlatformStatus.CANCELLED, refusal="买家已取消服务单"),
    ]
}
SERVICE_STATUS_LABELS = {code: s.label for code, s in SERVICE_STATES.items()}
DONE = 10010


def platform_status(code: int, refund_type: int, *, waybill: bool, process_result: int | None) -> int:
    """What CS see as 平台状态 for a service order (PlatformStatus int)."""
    state = SERVICE_STATES[code]
    if state.stage == CLOSED:
        if code == DONE:
            # 退款成功 only when JD refunded: a completed 退货 processed as 退货 (40), or 仅退款. A
            # finished exchange, repair or reissue is not a refund: 售后完成.
            refunded = refund_type == RefundType.REFUND_KEEP_GOODS or (
                refund_type == RefundType.RETURN and process_result == PROCESS_RESULT_RETURN_REFUNDED
            )
            return PlatformStatus.REFUNDED if refunded else PlatformStatus.SERVICE_COMPLETED
        return state.closed_as
    if state.stage == REVIEW or refund_type not in GOODS_COME_BACK:
        return PlatformStatus.APPLIED
    if state.stage == GOODS and not waybill:
        return PlatformStatus.AWAITING_RETURN  # approved; the buyer has not shipped yet
    return PlatformStatus.AWAITING_RECEIPT  # shipped back, or registered as received


def allows_goods_in_warehouse(code: int | None) -> bool:
    state = SERVICE_STATES.get(code)
    return state is not None and state.goods_in_warehouse


def refusal(code: int | None, kind_label: str) -> str | None:
    """Why JD's service-order state stops this writeback, in words CS read; None when JD would act.
    Only 退货入仓 exists for a service order: there is no shipment to cancel after receipt."""
    if code is None or (kind_label == "退货入仓" and allows_goods_in_warehouse(code)):
        return None
    state = SERVICE_STATES.get(code)
    if kind_label != "退货入仓":
        return f"服务单是确认收货后的售后，无法回传{kind_label}"
    label = state.label if state else f"未知状态 {code}"
    why = state.refusal if state else "该状态未在服务单状态表中，需先确认含义"
    return f"{why}：京东服务单状态为{label}，无法回传{kind_label}"


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
    apply_id = item.get("applyId")
    return {
        "refund_no": service_no,
        "tid": tid,
        "oid": identifier("原始子单号", "orderId-skuId", oid_for(tid, sku), REFUND_LEN["oid"]),
        "refund_type": refund_type,
        "platform_status": platform_status(
            code, refund_type, waybill=bool(waybill), process_result=process_result
        ),
        "platform_status_code": str(code),
        "reason": text("退款原因", "questionTypeCid2Name", reason, notes, REFUND_LEN["reason"]),
        "description": text("买家描述", "questionDesc", item.get("questionDesc"), notes),
        "refund_amount": price if refunds_money else price * 0,
        "num": integer(
            "售后数量", "serviceCount", item.get("serviceCount"), default=1, low=1, high=MAX_QUANTITY
        ),
        "buyer_nick": buyer,
        "apply_time": apply_time,
        "check_time": approve_time,
        "platform_modified": updated or approve_time or apply_time,
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
        # The after-sales application behind it (申请单号): the other candidate for 退货入仓.
        "platform_apply_id": ""
        if apply_id in (None, "")
        else number_id("申请单号", "applyId", apply_id, REFUND_LEN["refund_no"]),
    }


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
