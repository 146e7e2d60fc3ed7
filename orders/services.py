"""The orders app's verbs: a shop's credential state, and the shipment interception (拦截发货).

Each verb owns its transaction and locks through `orders.locks` (orders, then lines, by id). Callers
that also touch slips (refunds.services) lock orders and lines first, then their slips, and call
these inside their own transaction: the locks are already held, the nested atomic block is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import batched_events, record_event
from core.bulk import update_rows

from .locks import lock_order_lines, lock_orders
from .models import InterceptionStatus, Order, OrderLine, OrderStatus, Shop


# --- credentials: whether JD accepts the shop's keys ----------------------------------------------
def shop_mark_credentials_refused(shop_id: int, *, message: str, refresh_refused: bool = False) -> None:
    """JD refused the credentials (codes 11/12/18-21/24): nothing goes to JD automatically for this
    shop until a call succeeds again or ops save new credentials.

    `refresh_refused`: JD refused to refresh the token (sa_sync.credentials). That cause, with what
    to do, stays on the shop until it is authorised again: a later call refused with the expired
    token (code 19) would only say less."""
    now = timezone.now()
    shops = Shop.objects.filter(pk=shop_id)
    if refresh_refused:
        shops.update(credential_error=message[:300], credential_error_at=now, token_refresh_refused_at=now)
    else:
        shops.filter(token_refresh_refused_at__isnull=True).update(
            credential_error=message[:300], credential_error_at=now
        )


def shop_mark_credentials_working(shop_ids, *, reauthorised: bool = False) -> None:
    """A call with the shop's credentials succeeded, or ops saved new ones (the next call decides).

    A call that still works with the access token of a shop whose refresh JD refused does not clear
    the refusal (the token will expire and cannot be refreshed); new credentials do (`reauthorised`:
    JD's authorisation, a successful refresh, or ops saving keys or tokens)."""
    shops = Shop.objects.filter(pk__in=list(shop_ids))
    if reauthorised:
        shops.filter(Q(token_refresh_refused_at__isnull=False) | ~Q(credential_error="")).update(
            credential_error="", credential_error_at=None, token_refresh_refused_at=None
        )
        return
    shops.exclude(credential_error="").filter(token_refresh_refused_at__isnull=True).update(
        credential_error="", credential_error_at=None
    )


# --- interception -------------------------------------------------------------------------------------
class Interception:
    """What stopping a line's shipment does, by the order's status (`interception_decision`)."""

    CANCEL = "cancel"  # not in the warehouse yet: the line is cancelled at once
    ASK_WAREHOUSE = "ask_warehouse"  # in the warehouse: it must confirm
    TOO_LATE = "too_late"  # shipped: impossible, CS must know


@dataclass(frozen=True)
class InterceptionResult:
    line_id: int
    decision: str | None  # an Interception value; None: nothing was done
    message: str


def interception_decision(order_status: int) -> str | None:
    """The check, apart from the act: what intercepting a line of an order in this status does.
    None: nothing to stop (the order is cancelled already)."""
    if OrderStatus.AWAITING_PAYMENT <= order_status <= OrderStatus.AWAITING_FINANCE_REVIEW:
        return Interception.CANCEL
    if order_status == OrderStatus.IN_WAREHOUSE:
        return Interception.ASK_WAREHOUSE
    if order_status >= OrderStatus.SHIPPED:
        return Interception.TOO_LATE
    return None


@dataclass(frozen=True)
class InterceptionRequest:
    line_id: int
    quantity: int  # the refunded quantity: only that much of the line is stopped
    reason: str  # why, e.g. which slip


LINE_INTERCEPTION_FIELDS = ["interception_status", "is_cancelled", "intercept_num", "updated_at"]


def order_lines_intercept(requests, *, by) -> list[InterceptionResult]:
    """Stop lines from shipping, as far as each order allows: one result per request, in order.

    Set-based, for a downloaded page's refund-only slips: the orders and lines locked in one query
    each, the lines written in one UPDATE and their events in one INSERT, where one line at a time
    cost ~7 round trips per slip. A request for a line already handled (also by an earlier request
    of the same set) does nothing."""
    requests = list(requests)
    if not requests:
        return []
    with transaction.atomic(), batched_events():
        order_of = dict(
            OrderLine.objects.filter(pk__in={r.line_id for r in requests}).values_list("id", "order_id")
        )
        orders = {order.pk: order for order in lock_orders(sorted(set(order_of.values())))}
        lines = {line.pk: line for line in lock_order_lines(sorted(order_of))}
        results, changed, emptied = [], {}, set()
        now = timezone.now()
        for request in requests:
            line = lines.get(request.line_id)
            if line is None:
                results.append(InterceptionResult(request.line_id, None, "子订单不存在"))
                continue
            if line.interception_status != InterceptionStatus.NONE or line.is_cancelled:
                results.append(InterceptionResult(line.pk, None, "已处理过拦截"))
                continue
            decision = interception_decision(orders[line.order_id].status)
            if decision is not None:
                _intercept_line(line, decision, request, by)
                line.updated_at = now
                changed[line.pk] = line
                if decision == Interception.CANCEL:
                    emptied.add(line.order_id)
            results.append(InterceptionResult(line.pk, decision, ""))
        update_rows(OrderLine, changed.values(), LINE_INTERCEPTION_FIELDS)
        _cancel_orders_if_empty([orders[pk] for pk in sorted(emptied)], by)
    return results


def _intercept_line(line, decision, request, by):
    """The line's transition for `decision` (in memory; the caller writes it)."""
    line.intercept_num = max(1, min(request.quantity, line.num))
    stops = "该子订单" if line.intercept_num >= line.num else f"{line.intercept_num}/{line.num} 件"
    if decision == Interception.CANCEL:
        line.mark_intercepted(by=by, reason=f"{request.reason}，订单未出库，已取消{stops}")
    elif decision == Interception.ASK_WAREHOUSE:
        line.request_interception(
            by=by, reason=f"{request.reason}，订单已在仓库处理，等待仓库确认拦截{stops}"
        )
    else:
        line.mark_interception_failed(by=by, reason=f"{request.reason}，但订单已发货，无法拦截")


def order_line_confirm_interception(line_id: int, *, succeeded: bool, by) -> InterceptionResult:
    """The warehouse's answer for a line waiting for it (拦截中). Refused in words otherwise."""
    with transaction.atomic():
        line = OrderLine.objects.filter(pk=line_id).values("order_id").first()
        if line is None:
            return InterceptionResult(line_id, None, "子订单不存在")
        order = lock_orders([line["order_id"]]).get()
        line = lock_order_lines([line_id]).get()
        if line.interception_status != InterceptionStatus.PENDING:
            return InterceptionResult(
                line_id,
                None,
                f"子订单 {line.oid} 当前为“{line.get_interception_status_display()}”，不是待确认拦截，未作修改",
            )
        if succeeded:
            line.mark_intercepted(by=by, reason=f"仓库确认拦截成功，{line.intercept_num} 件未出库")
            _save_line(line)
            _cancel_orders_if_empty([order], by)
            return InterceptionResult(
                line_id, Interception.CANCEL, f"子订单 {line.oid}：已确认拦截成功，可回传取消发货成功"
            )
        line.mark_interception_failed(by=by, reason="仓库确认拦截失败，货品已出库")
        _save_line(line)
        return InterceptionResult(line_id, Interception.TOO_LATE, f"子订单 {line.oid}：已确认拦截失败")


def _save_line(line):
    line.save(update_fields=["interception_status", "is_cancelled", "intercept_num", "updated_at"])


def _cancel_orders_if_empty(orders, by):
    """Orders (locked) none of whose lines ships any more are cancelled, each with its event."""
    orders = [order for order in orders if order.status != OrderStatus.CANCELLED]
    if not orders:
        return
    alive = set(
        OrderLine.objects.filter(order_id__in=[o.pk for o in orders], is_cancelled=False)
        .values_list("order_id", flat=True)
        .order_by()  # the model's ordering by id would make DISTINCT one row per line
        .distinct()
    )
    for order in orders:
        if order.pk in alive:
            continue
        old = order.get_status_display()
        order.status = OrderStatus.CANCELLED
        order.save(update_fields=["status", "updated_at"])
        record_event(
            order,
            action="拦截发货",
            by=by,
            field="status",
            from_state=old,
            to_state=order.get_status_display(),
            reason="所有子订单均已取消",
        )


# --- minimal order processing: the ERP's own order states, so interception can be rehearsed ------
@dataclass(frozen=True)
class OrderStep:
    key: str
    label: str
    sources: tuple[int, ...]
    target: int
    permission: str


ORDER_STEPS = {
    step.key: step
    for step in (
        OrderStep(
            "cs_review",
            "客审通过",
            (OrderStatus.AWAITING_CS_REVIEW,),
            OrderStatus.AWAITING_FINANCE_REVIEW,
            "orders.review_order",
        ),
        OrderStep(
            "finance_review",
            "财审通过",
            (OrderStatus.AWAITING_FINANCE_REVIEW,),
            OrderStatus.IN_WAREHOUSE,
            "orders.review_order",
        ),
        # 审核: straight to the warehouse from either review stage (orders that need no finance review).
        OrderStep(
            "approve",
            "审核",
            (OrderStatus.AWAITING_CS_REVIEW, OrderStatus.AWAITING_FINANCE_REVIEW),
            OrderStatus.IN_WAREHOUSE,
            "orders.review_order",
        ),
        OrderStep("ship", "发货", (OrderStatus.IN_WAREHOUSE,), OrderStatus.SHIPPED, "orders.ship_order"),
    )
}


class OrderStepRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def order_steps_for(order: Order, user) -> list[OrderStep]:
    """The buttons this user may press on this order now (the check, apart from the act)."""
    return [s for s in ORDER_STEPS.values() if order.status in s.sources and user.has_perm(s.permission)]


def order_advance(order_id: int, step_key: str, *, by, logistics_no: str = "") -> Order:
    """Move an order one step (客审通过 / 财审通过 / 审核 / 发货) under its lock, with an event.

    The step's permission is checked here, not only by the page: every caller goes through one rule.
    A line still waiting for the warehouse's interception answer stops 发货: shipping it would decide
    the interception by accident."""
    step = ORDER_STEPS.get(step_key)
    if step is None:
        raise OrderStepRefused(f"未知的订单操作：{step_key}")
    if by is not None and not isinstance(by, str) and not by.has_perm(step.permission):
        raise OrderStepRefused(f"您没有“{step.label}”的权限。")
    logistics_no = (logistics_no or "").strip()
    if step.key == "ship":
        if not logistics_no:
            raise OrderStepRefused("物流单号：发货必须填写物流单号。")
        if len(logistics_no) > 64:
            raise OrderStepRefused(f"物流单号：最长 64 个字符，当前 {len(logistics_no)} 个。")
    with transaction.atomic():
        order = lock_orders([order_id]).first()
        if order is None:
            raise OrderStepRefused("订单不存在。")
        if order.status not in step.sources:
            raise OrderStepRefused(
                f"订单 {order.tid} 当前为“{order.get_status_display()}”，不能{step.label}。"
            )
        if step.key == "ship" and order.lines.filter(interception_status=InterceptionStatus.PENDING).exists():
            raise OrderStepRefused(
                f"订单 {order.tid} 有子订单在拦截中（待仓库确认），请先确认拦截结果再发货。"
            )
        old = order.get_status_display()
        order.status = step.target
        fields = ["status", "updated_at"]
        if step.key == "ship":
            order.logistics_no = logistics_no
            fields.append("logistics_no")
        order.save(update_fields=fields)
        record_event(
            order,
            action=step.label,
            by=by,
            field="status",
            from_state=old,
            to_state=order.get_status_display(),
            reason=f"物流单号 {logistics_no}" if logistics_no else "",
        )
    return order
