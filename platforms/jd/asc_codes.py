"""JD's after-sales service orders (服务单, `jingdong.asc.*`): their codes, the one table the back
office and the SA sandbox both read.

On JD a refund asked before the buyer confirmed receipt is a refund application (取消订单, the
`refundapply` states in `codes`); everything after receipt — 退货, 换货, 维修, 补发 — is a service
order, with its own states (`serviceStatus`, 10000 and up: they never meet a refund application's
0-27, so a slip's stored code says which table it belongs to). Sources: docs/sandbox.md ("JD's
after-sales service orders").

Pure Python, no Django: the sandbox imports it. ERP values are the ints of refunds.models: refund
types 2 退货, 3 换货, 4 退款不退货, 5 维修, 6 补发; platform statuses 1 取消退款, 2 申请退款,
3 等待退货, 4 等待收货, 5 退款成功, 7 卖家拒绝退款, 8 售后完成.
"""

from __future__ import annotations

from dataclasses import dataclass

# refunds.models.RefundType / PlatformStatus values (this module cannot import them)
RETURN_TYPE, EXCHANGE_TYPE, REFUND_KEEP_GOODS_TYPE, REPAIR_TYPE, REISSUE_TYPE = 2, 3, 4, 5, 6
CANCELLED, APPLIED, AWAITING_RETURN, AWAITING_RECEIPT, REFUNDED, SELLER_REFUSED, SERVICE_COMPLETED = (
    1,
    2,
    3,
    4,
    5,
    7,
    8,
)
GOODS_IN_WAREHOUSE = "goods_in_warehouse"  # platforms.port.GOODS_IN_WAREHOUSE

# --- customerExpect (客户期望) ----------------------------------------------------------------------
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
RETURN, REFUND_ONLY, EXCHANGE, REPAIR, REISSUE = 10, 11, 20, 30, 80
REFUND_TYPE_FOR = {
    RETURN: RETURN_TYPE,
    REFUND_ONLY: REFUND_KEEP_GOODS_TYPE,
    EXCHANGE: EXCHANGE_TYPE,
    REPAIR: REPAIR_TYPE,
    REISSUE: REISSUE_TYPE,
}
# The buyer sends goods back for these (JD approves with 33 客户发货 and waits: 10005 待收货).
GOODS_COME_BACK = frozenset({RETURN, EXCHANGE, REPAIR})
GOODS_COME_BACK_TYPES = frozenset(REFUND_TYPE_FOR[c] for c in GOODS_COME_BACK)

# --- approveResult (审核结果) and processResult (处理结果), the values the product reads ---------------
APPROVE_RESULT = {33: "客户发货", 87: "补发商品", 91: "退款不退货", 106: "换货"}
APPROVE_RESULT_FOR = {RETURN: 33, EXCHANGE: 33, REPAIR: 33, REFUND_ONLY: 91, REISSUE: 87}
PROCESS_RESULT = {
    0: "初始化",
    1: "安装完成",
    2: "维修完成",
    3: "检测完成",
    4: "拆机完成",
    5: "咨询解释",
    6: "取消",
    23: "换新",
    40: "退货",
    70: "原返",
    80: "换货",
    100: "赔付",
}
PROCESS_RETURN_REFUNDED = 40  # 退货: JD refunded the buyer

# --- serviceStatus (服务单状态) ---------------------------------------------------------------------
REVIEW, GOODS, PROCESSING, CLOSED_STAGE = "review", "goods", "processing", "closed"


@dataclass(frozen=True)
class ServiceState:
    code: int
    label: str
    # review: not approved yet; goods: approved, waiting for the buyer's goods (待收货); processing:
    # the goods are in (or nothing comes back) and the merchant processes; closed: over.
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
        ServiceState(10004, "审核关闭", CLOSED_STAGE, SELLER_REFUSED, refusal="服务单已审核关闭"),
        ServiceState(10005, "待收货", GOODS, goods_in_warehouse=True),
        ServiceState(10006, "待处理领取", PROCESSING, refusal="服务单已收货登记，待商家处理"),
        ServiceState(10007, "待处理", PROCESSING, refusal="服务单已收货登记，待商家处理"),
        ServiceState(10009, "待用户确认", PROCESSING, refusal="服务单已处理，待用户确认"),
        ServiceState(10041, "提交退款申请", PROCESSING, refusal="服务单已提交退款申请"),
        ServiceState(10010, "完成", CLOSED_STAGE, SERVICE_COMPLETED, refusal="服务单已完成"),
        ServiceState(10011, "取消", CLOSED_STAGE, CANCELLED, refusal="买家已取消服务单"),
    ]
}
SERVICE_STATUS = {code: s.label for code, s in SERVICE_STATES.items()}
AWAITING_REVIEW, AWAITING_GOODS, AWAITING_PROCESSING, DONE, CANCELLED_STATUS, REVIEW_CLOSED = (
    10001,
    10005,
    10007,
    10010,
    10011,
    10004,
)
CLOSED = frozenset(c for c, s in SERVICE_STATES.items() if s.stage == CLOSED_STAGE)
# Not approved (yet): a row shows no approveTime.
UNREVIEWED = frozenset(c for c, s in SERVICE_STATES.items() if s.stage == REVIEW) | {CANCELLED_STATUS}
# 收货登记 takes only a service order waiting for goods.
RECEIVABLE = frozenset(c for c, s in SERVICE_STATES.items() if s.goods_in_warehouse)


def is_service_code(code: int | None) -> bool:
    """Whether a stored state code is a service order's (else it is a refund application's)."""
    return code in SERVICE_STATES


def platform_status(code: int, refund_type: int, *, waybill: bool, process_result: int | None) -> int:
    """What CS see as 平台状态 for a service order (PlatformStatus int)."""
    state = SERVICE_STATES[code]
    if state.stage == CLOSED_STAGE:
        if code == DONE:
            # 退款成功 only when JD refunded: a 退货 processed as 退货 (40), or a 仅退款. A finished
            # exchange, repair or reissue (or a 退货 sent back as it came, 原返) is not a refund.
            refunded = refund_type == REFUND_KEEP_GOODS_TYPE or (
                refund_type == RETURN_TYPE and process_result == PROCESS_RETURN_REFUNDED
            )
            return REFUNDED if refunded else SERVICE_COMPLETED
        return state.closed_as
    if state.stage == REVIEW or refund_type not in GOODS_COME_BACK_TYPES:
        return APPLIED
    if state.stage == GOODS and not waybill:
        return AWAITING_RETURN  # approved; the buyer has not shipped yet
    return AWAITING_RECEIPT  # shipped back, or registered as received


def allows(code: int | None, kind: str) -> bool:
    """Would JD act on this writeback in this service-order state. There is no shipment to cancel
    after receipt: only 退货入仓, and only while JD waits for the goods."""
    state = SERVICE_STATES.get(code)
    return state is not None and kind == GOODS_IN_WAREHOUSE and state.goods_in_warehouse


def acting_codes(kind: str) -> list[str]:
    return [str(code) for code in SERVICE_STATES if allows(code, kind)]


def refusal(code: int | None, kind: str, kind_label: str) -> str | None:
    """Why JD's service-order state stops this writeback, in words CS read; None when JD would act
    on it (or the state was never read: the fresh read before sending decides)."""
    if code is None or allows(code, kind):
        return None
    if kind != GOODS_IN_WAREHOUSE:
        return f"服务单是确认收货后的售后，无法回传{kind_label}"
    state = SERVICE_STATES.get(code)
    label = state.label if state else f"未知状态 {code}"
    why = state.refusal if state else "该状态未在服务单状态表中，需先确认含义"
    return f"{why}：京东服务单状态为{label}，无法回传{kind_label}"
