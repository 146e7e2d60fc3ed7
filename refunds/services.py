"""The refunds app's verbs on raw refund slips: interception on their behalf (拦截发货).

A refund-only slip (退款 + 申请退款) stops its order line from shipping through the orders app's
verbs, and the slip says what came of it (需关注) so CS see it in the list. Locks: orders, lines,
then the slips (core.locks explains the order), all in one transaction per call.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.bulk import update_rows
from orders.locks import lock_order_lines, lock_orders
from orders.models import InterceptionStatus, OrderLine
from orders.services import (
    Interception,
    InterceptionRequest,
    order_line_confirm_interception,
    order_lines_intercept,
)

from .locks import lock_raw_refunds
from .models import PlatformStatus, RawRefund, RefundType

INTERCEPT_ACTOR = "系统：拦截发货"

# What the slip says (需关注) after its line's interception moved.
ATTENTION_FOR = {
    Interception.CANCEL: "",
    Interception.ASK_WAREHOUSE: "拦截中，待仓库确认",
    Interception.TOO_LATE: "拦截失败：订单已发货",
}
ATTENTION_WAREHOUSE_FAILED = "拦截失败：货品已出库"


def raw_refund_intercept(slip_ids, *, by=INTERCEPT_ACTOR) -> int:
    """Each refund-only slip (of `slip_ids`) whose line has not been intercepted yet stops it from
    shipping (orders.services.order_lines_intercept). Returns the number of lines touched."""
    # Read by primary key alone and filtered here. With the slip's type and state in the WHERE,
    # PostgreSQL, its statistics behind a busy day's inserts, walked rawrefund_type_pf_idx over every
    # refund-only slip and kept the page's 25: 28 ms a page in the rehearsal, growing with the table.
    # A unique key's lookup has no such choice.
    rows = (
        RawRefund.objects.filter(pk__in=list(slip_ids))
        .order_by("pk")
        .values_list(
            "pk",
            "order_id",
            "order_line_id",
            "refund_no",
            "num",
            "refund_type",
            "platform_status",
            "order_line__interception_status",
            "order_line__is_cancelled",
        )
    )
    candidates = [
        (pk, order_id, line_id, refund_no, num)
        for pk, order_id, line_id, refund_no, num, kind, status, interception, cancelled in rows
        if kind == RefundType.REFUND
        and status == PlatformStatus.APPLIED
        and line_id is not None
        and interception == InterceptionStatus.NONE
        and not cancelled
    ]
    if not candidates:
        return 0
    # One transaction for the set (the platform sync passes a downloaded page's slips): its orders
    # and lines locked and written as a set by orders.services, then its slips locked (the order
    # every verb locks them in) and flagged in one UPDATE. A failure rolls the set back; the next
    # sync meets the slips again and intercepts them then.
    with transaction.atomic():
        results = order_lines_intercept(
            [
                InterceptionRequest(line_id, num, f"退款单 {refund_no} 申请退款 {num} 件")
                for _, _, line_id, refund_no, num in candidates
            ],
            by=by,
        )
        slips = {slip.pk: slip for slip in lock_raw_refunds([slip_id for slip_id, *_ in candidates])}
        acted = [
            (slips[slip_id], ATTENTION_FOR[result.decision])
            for (slip_id, *_), result in zip(candidates, results, strict=True)
            if result.decision is not None
        ]
        _flag(acted)
    return len(acted)


def raw_refund_confirm_interception(line_id: int, *, succeeded: bool, by) -> str:
    """The warehouse's answer for a line waiting for it; the line's slips say what it means for them.
    Returns what happened, in words."""
    with transaction.atomic():
        order_id = OrderLine.objects.filter(pk=line_id).values_list("order_id", flat=True).first()
        if order_id is None:
            return "子订单不存在"
        list(lock_orders([order_id]))
        list(lock_order_lines([line_id]))
        slips = list(lock_raw_refunds(RawRefund.objects.filter(order_line_id=line_id)))
        result = order_line_confirm_interception(line_id, succeeded=succeeded, by=by)
        if result.decision is not None:
            text = "" if succeeded else ATTENTION_WAREHOUSE_FAILED
            _flag([(slip, text) for slip in slips])
        return result.message


def _flag(slips_and_texts):
    """What each slip says (需关注) after its line's interception moved, in one UPDATE."""
    now, changed = timezone.now(), []
    for slip, text in slips_and_texts:
        if slip.attention != text:
            slip.attention, slip.updated_at = text, now
            changed.append(slip)
    update_rows(RawRefund, changed, ["attention", "updated_at"])
