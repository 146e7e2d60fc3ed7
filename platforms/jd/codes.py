"""JD's refund-application states, the one table the back office and the SA sandbox both read.

Pure Python, no Django: the sandbox (its own program) imports it, and so do JD's row mapping
(platforms.jd.mapping) and, through the port's state functions (platforms.state_refusal and
friends), the writeback rules (refunds.models). Change a row here and all of them move together;
tests/platforms/jd/test_codes.py fails if the sandbox and the back office ever read it differently.

Platform statuses are the int codes of refunds.models.PlatformStatus (this module cannot import it):
1 取消退款, 2 申请退款, 3 等待退货, 4 等待收货, 5 退款成功, 7 卖家拒绝退款.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import asc_codes

CANCELLED, APPLIED, AWAITING_RETURN, AWAITING_RECEIPT, REFUNDED, SELLER_REFUSED = 1, 2, 3, 4, 5, 7


@dataclass(frozen=True)
class RefundApplyState:
    code: int
    label: str
    # The platform status when JD has closed the application; None while it is open (then the
    # status depends on the type and the return state: `platform_status`).
    closed_as: int | None
    # Whether JD would act on our 取消发货成功 / 退货入仓 in this state (the SA policy refunds).
    shipment_cancelled: bool
    goods_in_warehouse: bool
    # Said to CS (and stored as the slip's reason) when the state allows neither.
    refusal: str = ""

    @property
    def closed(self) -> bool:
        return self.closed_as is not None


REFUND_APPLY_STATES = {
    s.code: s
    for s in [
        # Open and not yet decided on: the ERP's own view (not shipped / goods arrived) is what JD
        # waits for.
        RefundApplyState(0, "未审核", None, True, True),
        RefundApplyState(1, "审核通过", None, True, True),
        RefundApplyState(2, "审核不通过", SELLER_REFUSED, False, False, "已审核不通过"),
        RefundApplyState(3, "京东财务审核通过", REFUNDED, False, False, "京东已退款"),
        RefundApplyState(4, "京东财务审核不通过", SELLER_REFUSED, False, False, "京东财务审核不通过"),
        RefundApplyState(5, "人工审核通过", None, True, True),
        RefundApplyState(6, "拦截并退款", REFUNDED, False, False, "京东已拦截并退款"),
        # 7/8/10 are JD logistics' (青龙) own interception story: the parcel already left the warehouse
        # with JD's carrier. 取消发货成功 says it never left, which is false in all three: 7 JD
        # stopped it itself (nothing for us to claim), 8 JD could not stop it (the buyer gets the
        # parcel; refunding on our word would pay twice), 10 JD is still chasing the carrier. The
        # issue saw the ERP's 待客审 win over JD's 8; JD's word wins. 退货入仓 is a fact about our
        # warehouse, so a return JD is tracking (10) may still report it; 7/8 are refund-only flows
        # where a return writeback would not fit the application, so neither kind is sent.
        RefundApplyState(7, "青龙拦截成功", None, False, False, "京东物流已拦截包裹，由京东处理退款"),
        RefundApplyState(8, "青龙拦截失败", None, False, False, "京东拦截失败"),
        RefundApplyState(9, "强制关单并退款", REFUNDED, False, False, "京东已强制关单并退款"),
        RefundApplyState(10, "物流待跟进", None, False, True, "京东物流待跟进"),
        RefundApplyState(11, "用户撤销", CANCELLED, False, False, "买家已撤销退款"),
    ]
}

# jingdong.pop.afs.soa.refundapply.queryPageList `status` → label (kept for existing readers).
REFUND_APPLY_STATUS = {code: s.label for code, s in REFUND_APPLY_STATES.items()}
CLOSED_STATUSES = frozenset(code for code, s in REFUND_APPLY_STATES.items() if s.closed)

SHIPMENT_CANCELLED = "shipment_cancelled"
GOODS_IN_WAREHOUSE = "goods_in_warehouse"


def platform_status(jd_status: int) -> int:
    """What CS see as 平台状态 for a JD refund application (PlatformStatus int). A refund application
    is JD's refund before receipt (退款): open, it is 申请退款; returns and their parcels are service
    orders (asc_codes)."""
    state = REFUND_APPLY_STATES.get(jd_status)
    if state is not None and state.closed:
        return state.closed_as
    return APPLIED


def code_of(value) -> int | None:
    """A state code as stored ("3", 3) → the table's key; None when there is none yet."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() else None


def allows(jd_status: int | str | None, kind: str) -> bool:
    """Would JD act on this writeback kind in this state. An unknown (later) code is not trusted."""
    if asc_codes.is_service_code(code_of(jd_status)):  # a service order's state (服务单, asc_codes)
        return asc_codes.allows(code_of(jd_status), kind)
    state = REFUND_APPLY_STATES.get(code_of(jd_status))
    if state is None:
        return False
    return state.shipment_cancelled if kind == SHIPMENT_CANCELLED else state.goods_in_warehouse


def acting_codes(kind: str) -> list[str]:
    """The codes (as stored on a slip) in which JD acts on this writeback kind."""
    return [str(code) for code in REFUND_APPLY_STATES if allows(code, kind)] + asc_codes.acting_codes(kind)


def state_label(code) -> str:
    if asc_codes.is_service_code(code_of(code)):
        return asc_codes.SERVICE_STATUS[code_of(code)]
    state = REFUND_APPLY_STATES.get(code_of(code))
    return state.label if state else ""


def refusal(jd_status: int | str | None, kind: str, kind_label: str) -> str | None:
    """Why JD's state stops this writeback, in words CS read; None when JD would act on it (or
    the state is not known yet: the fresh read before sending decides)."""
    jd_status = code_of(jd_status)
    if asc_codes.is_service_code(jd_status):
        return asc_codes.refusal(jd_status, kind, kind_label)
    if jd_status is None or allows(jd_status, kind):
        return None
    state = REFUND_APPLY_STATES.get(jd_status)
    label = state.label if state else f"未知状态 {jd_status}"
    why = state.refusal if state else "该状态未在状态表中，需先确认含义"
    return f"{why}：京东状态为{label}，无法回传{kind_label}"
