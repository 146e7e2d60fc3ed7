"""The refund-slip verbs: quote, create, adjust, review (two levels), reject, cancel, complete.

Every verb owns its transaction and locks in the one order: orders → order lines → raw refund slips →
return slips → refund slips, each by id (core.locks). The amount comes from `amounts.quote_refund`
(pure); this module only gathers its inputs. Users are `by` (a user, or a string naming a system
actor); permissions for review and completion are checked here, so the admin and the API agree.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django_fsm import can_proceed

from core.audit import actor_name, actor_user, batched_events, record_event
from orders.after_sales import after_sales_refusal
from orders.locks import lock_order_lines, lock_orders
from orders.models import Order, OrderLine, OrderPromotion, OrderStatus, PayType
from refunds.locks import lock_raw_refunds
from refunds.models import PlatformStatus, RawRefund, RefundType
from returns.locks import lock_return_slips
from returns.models import HOLDING_STATUSES as RETURN_HOLDING_STATUSES
from returns.models import ReturnLine, ReturnSlip, ReturnStatus

from .amounts import Quote, QuoteLine, QuoteOrder, QuotePromotion, money, quote_refund
from .keywords import EXCHANGE, REPAIR, RETURN, keyword_warning, parse_keywords
from .locks import lock_refund_slips
from .models import (
    HOLDING_STATUSES,
    OPEN_STATUSES,
    AdjustmentKind,
    RefundAdjustment,
    RefundSlip,
    RefundSlipLine,
    RefundSlipStatus,
    RefundSource,
    ShopRefundSettings,
)

logger = logging.getLogger(__name__)

PLATFORM_ACTOR = "系统：平台同步（京东退款成功）"
LEVEL1_PERM = "refund_slips.review_level1_refundslip"
LEVEL2_PERM = "refund_slips.review_level2_refundslip"
ADJUST_PERM = "refund_slips.adjust_refundslip"
MARK_REFUNDED_PERM = "refund_slips.mark_refunded_refundslip"


class RefundSlipRefused(Exception):
    """A verb refused: the message says what, for which slip or line, and what to do, in Chinese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _has_perm(by, perm: str) -> bool:
    return bool(getattr(by, "pk", None)) and by.is_active and by.has_perm(perm)


def shop_refund_settings(shop_id: int) -> ShopRefundSettings:
    return ShopRefundSettings.objects.get_or_create(shop_id=shop_id)[0]


# --- the quote -----------------------------------------------------------------------------------------
def quote_order(order: Order) -> QuoteOrder:
    """The order as the pure computation sees it (two queries: lines, promotions)."""
    return _quote_order(order, list(order.lines.all()), list(order.promotions.all()))


def _quote_order(order: Order, lines, promotions) -> QuoteOrder:
    by_oid = {line.oid: line.pk for line in lines}
    promotions = tuple(
        QuotePromotion(
            label=p.label,
            threshold=p.threshold,
            discount=p.discount,
            line_ids=tuple(by_oid[oid] for oid in p.oids if oid in by_oid),
        )
        for p in promotions
    )
    return QuoteOrder(
        paid=order.paid,
        post_amount=order.post_amount,
        lines=tuple(
            QuoteLine(line_id=x.pk, oid=x.oid, name=x.goods_name, num=x.num, paid=x.paid) for x in lines
        ),
        promotions=promotions,
        shipped=order.status >= OrderStatus.SHIPPED,
        cod=order.pay_type == PayType.COD,
        # 货到付款: the buyer pays the courier on delivery; 已完成 is the order signed for (and paid).
        cod_paid=order.status >= OrderStatus.COMPLETED,
    )


def already_refunded(order_id: int, *, exclude_slip_id: int | None = None) -> dict[int, int]:
    """Quantities earlier refund slips of the order (not 驳回 / 已取消) took, per order line."""
    rows = RefundSlipLine.objects.filter(
        refund_slip__order_id=order_id, refund_slip__status__in=HOLDING_STATUSES
    )
    if exclude_slip_id:
        rows = rows.exclude(refund_slip_id=exclude_slip_id)
    return {
        r["order_line_id"]: r["total"]
        for r in rows.values("order_line_id").annotate(total=Sum("quantity")).order_by()
    }


def refund_quote(
    *,
    order_id: int,
    lines: dict[int, int] | None = None,
    strategy: str | None = None,
    exclude_slip_id: int | None = None,
) -> Quote:
    """What a refund of `lines` ({order line id: quantity}; None = the whole order) would be, under
    the shop's strategy (or `strategy`), with the arithmetic: nothing is created. `exclude_slip_id`:
    quote an existing slip again (its own quantities do not count as refunded before it)."""
    order = Order.objects.get(pk=order_id)
    strategy = strategy or shop_refund_settings(order.shop_id).strategy
    earlier = already_refunded(order.pk, exclude_slip_id=exclude_slip_id)
    return quote_refund(quote_order(order), lines, strategy=strategy, already_refunded=earlier)


# --- one open after-sales per order line (registered into orders.after_sales) ----------------------------
def _refund_held_message(oid: str, name: str, number: str, status: str, what: str) -> str:
    return (
        f"子订单 {oid}（{name}）已有退款单 {number}（{status}），不能再建{what}；该退款单驳回或取消后才可以"
    )


def _return_held_message(oid: str, name: str, number: str, status: str) -> str:
    return (
        f"子订单 {oid}（{name}）已有退货单 {number}（{status}），不能再建退款单；"
        "请从该退货单建退款单，或待其驳回或取消"
    )


def after_sales_guard(line_ids, *, kind: str, raw_refund_id=None, return_slip_id=None) -> str | None:
    """Refund slips hold their lines against a new return slip (of another case) or refund slip;
    for a new refund slip, open return slips of another case hold them too. (The batch creation
    below makes the same checks in memory for a whole chunk.)"""
    what = "退款单" if kind == "refund" else "退货单"
    held = RefundSlipLine.objects.filter(
        order_line_id__in=line_ids, refund_slip__status__in=HOLDING_STATUSES
    ).select_related("refund_slip", "order_line")
    if kind == "return" and raw_refund_id:
        held = held.exclude(refund_slip__raw_refund_id=raw_refund_id)  # the same case
    first = held.order_by("refund_slip_id").first()
    if first is not None:
        slip = first.refund_slip
        return _refund_held_message(
            first.order_line.oid, first.order_line.goods_name, slip.number, slip.get_status_display(), what
        )
    if kind != "refund":
        return None
    returns = ReturnLine.objects.filter(
        order_line_id__in=line_ids, return_slip__status__in=RETURN_HOLDING_STATUSES
    ).select_related("return_slip", "order_line")
    if return_slip_id:
        returns = returns.exclude(return_slip_id=return_slip_id)
    if raw_refund_id:
        returns = returns.exclude(return_slip__raw_refund_id=raw_refund_id)
    first = returns.order_by("return_slip_id").first()
    if first is not None:
        slip = first.return_slip
        return _return_held_message(
            first.order_line.oid, first.order_line.goods_name, slip.number, slip.get_status_display()
        )
    return None


# --- create ----------------------------------------------------------------------------------------------
def refund_slip_create(
    *,
    by,
    raw_refund_id: int | None = None,
    return_slip_id: int | None = None,
    order_id: int | None = None,
    lines: dict[int, int] | None = None,
    whole_order: bool = False,
    compensation: Decimal | None = None,
    reason: str = "",
) -> RefundSlip:
    """A refund slip from a raw refund slip, from a return slip (入库完成), or by hand: `order_id` with
    `lines` ({order line id: quantity}) or `whole_order`, and/or a `compensation` with its `reason`
    (e.g. 超时赔付: money without goods coming back)."""
    reason = (reason or "").strip()
    limit = RefundSlip._meta.get_field("reason").max_length
    if len(reason) > limit:
        raise RefundSlipRefused(f"退款原因过长：{len(reason)} 个字符，最多 {limit} 个")
    raw = return_slip = None
    if raw_refund_id is not None:
        # One code path for one raw refund slip or ten thousand.
        result = refund_slips_create_for_raw_refunds([raw_refund_id], by=by, reason=reason)
        if result.refused:
            raise RefundSlipRefused(next(iter(result.refused.values())))
        return result.created[0]
    if return_slip_id is not None:
        return_slip = ReturnSlip.objects.get(pk=return_slip_id)
        order_id, source = return_slip.order_id, RefundSource.RETURN_SLIP
        lines = dict(return_slip.lines.values_list("order_line_id", "quantity"))
        raw = return_slip.raw_refund
    else:
        source = RefundSource.MANUAL
        if order_id is None:
            raise RefundSlipRefused("请选择系统订单")
        if whole_order:
            lines = None
        elif not lines and compensation is None:
            raise RefundSlipRefused("请选择要退款的子订单及数量，或填写补偿金额")
    if compensation is not None:
        compensation = _amount_or_refuse("补偿金额", compensation)
        if compensation <= 0:
            raise RefundSlipRefused(f"补偿金额须大于 0（填写 {compensation}）")
        if not reason:
            raise RefundSlipRefused("补偿须填写原因（例如：超时赔付）")

    order = Order.objects.get(pk=order_id)
    line_ids = (
        sorted(lines)
        if lines
        else (
            []
            if compensation is not None and not whole_order
            else sorted(order.lines.values_list("pk", flat=True))
        )
    )
    with transaction.atomic(), batched_events():
        [order] = list(lock_orders([order_id]))
        locked_lines = {line.pk: line for line in lock_order_lines(line_ids)}
        for line_id in line_ids:
            if line_id not in locked_lines or locked_lines[line_id].order_id != order.pk:
                raise RefundSlipRefused(f"子订单 {line_id} 不属于订单 {order.tid}")
        if raw is not None:
            [raw] = list(lock_raw_refunds([raw.pk]))
        if return_slip is not None:
            [return_slip] = list(lock_return_slips([return_slip.pk]))
            if source == RefundSource.RETURN_SLIP and return_slip.status != ReturnStatus.INBOUND_DONE:
                raise RefundSlipRefused(
                    f"退货单 {return_slip.number} 当前状态为“{return_slip.get_status_display()}”，"
                    "入库完成后才能建退款单"
                )
        refusal = after_sales_refusal(
            line_ids,
            kind="refund",
            raw_refund_id=raw.pk if raw else None,
            return_slip_id=return_slip.pk if return_slip else None,
        )
        if refusal:
            raise RefundSlipRefused(refusal)
        strategy = shop_refund_settings(order.shop_id).strategy
        if line_ids:
            requested = None if whole_order and source == RefundSource.MANUAL else lines
            quote = quote_refund(
                quote_order(order), requested, strategy=strategy, already_refunded=already_refunded(order.pk)
            )
            if quote.refusal:
                raise RefundSlipRefused(f"订单 {order.tid}：{quote.refusal}")
        else:
            quote = Quote(money(0), ["手工退款（无退货商品）：计算金额 0.00 元"])
        slip = RefundSlip.objects.create(
            shop_id=order.shop_id,
            order=order,
            raw_refund=raw,
            return_slip=return_slip,
            source=source,
            reason=reason,
            whole_order=quote.whole_order,
            strategy=strategy,
            computed_amount=quote.amount,
            amount=quote.amount,
            quote=quote.text,
            attention=raw.keyword_warning if raw else "",
            created_by=actor_user(by),
            created_by_name=actor_name(by),
        )
        wanted = lines if lines else {i: locked_lines[i].num for i in line_ids}
        RefundSlipLine.objects.bulk_create(
            [
                RefundSlipLine(
                    refund_slip=slip, order_line_id=i, quantity=wanted[i], amount=quote.line_amounts.get(i, 0)
                )
                for i in line_ids
            ]
        )
        origin = {
            RefundSource.RAW_REFUND: f"原始退款单 {raw.refund_no}" if raw else "",
            RefundSource.RETURN_SLIP: f"退货单 {return_slip.number}" if return_slip else "",
            RefundSource.MANUAL: "手工",
        }[source]
        record_event(
            slip,
            action="创建退款单",
            by=by,
            field="status",
            to_state="待审核",
            reason=f"{origin}；计算金额 {quote.amount} 元（{slip.get_strategy_display()}）",
        )
        if compensation is not None:
            _add_adjustment(slip, by=by, kind=AdjustmentKind.COMPENSATION, amount=compensation, reason=reason)
    return slip


@dataclass
class BatchResult:
    created: list[RefundSlip] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # 平台退款单号 → why not, in Chinese


CREATE_CHUNK = 500


def refund_slips_create_for_raw_refunds(raw_refund_ids, *, by, reason: str = "") -> BatchResult:
    """建退款单 for raw refund slips (one, or a whole selection): each for its line and quantity, its
    amount under its shop's strategy, linked to the raw refund slip's open return slip if there is
    one. A chunk of 500 is one transaction with a fixed number of queries: its orders, lines and raw
    refund slips locked (in that order), what other after-sales hold on those lines read once, the
    amounts computed in memory, the slips, their lines and their events inserted in bulk. A slip that
    cannot be created is refused with its reason; the others are created."""
    result = BatchResult()
    ids = sorted(set(raw_refund_ids))
    for start in range(0, len(ids), CREATE_CHUNK):
        _create_chunk(ids[start : start + CREATE_CHUNK], by=by, reason=reason, result=result)
    return result


def _raw_refusal(raw: RawRefund) -> str | None:
    if raw.refund_type == RefundType.EXCHANGE:
        return f"原始退款单 {raw.refund_no} 的类型为“换货”，换货不退款，不能建退款单"
    if raw.order_id is None or raw.order_line_id is None:
        return f"原始退款单 {raw.refund_no} 未匹配到系统订单/子订单，请先同步订单"
    return None


def _create_chunk(ids, *, by, reason, result: BatchResult):
    order_ids = sorted(
        set(RawRefund.objects.filter(pk__in=ids, order__isnull=False).values_list("order_id", flat=True))
    )
    with transaction.atomic(), batched_events():
        orders = {o.pk: o for o in lock_orders(order_ids)}
        lines_of = defaultdict(list)
        for line in lock_order_lines(OrderLine.objects.filter(order_id__in=order_ids)):
            lines_of[line.order_id].append(line)
        lines = {line.pk: line for group in lines_of.values() for line in group}
        raws = list(lock_raw_refunds(ids))
        promotions_of = defaultdict(list)
        for promotion in OrderPromotion.objects.filter(order_id__in=order_ids).order_by("pk"):
            promotions_of[promotion.order_id].append(promotion)
        # What earlier after-sales hold on these lines: the quantities 重算优惠 needs, and the
        # one-open-per-line rule (same words as after_sales_guard).
        refund_held, already = {}, defaultdict(lambda: defaultdict(int))
        for row in (
            RefundSlipLine.objects.filter(
                order_line_id__in=list(lines), refund_slip__status__in=HOLDING_STATUSES
            )
            .order_by("refund_slip_id")
            .values("order_line_id", "quantity", "refund_slip_id", "refund_slip__status")
        ):
            line = lines[row["order_line_id"]]
            already[line.order_id][line.pk] += row["quantity"]
            number = RefundSlip(pk=row["refund_slip_id"]).number
            refund_held.setdefault(line.pk, (number, RefundSlipStatus(row["refund_slip__status"]).label))
        return_held = defaultdict(list)
        for row in (
            ReturnLine.objects.filter(
                order_line_id__in=list(lines), return_slip__status__in=RETURN_HOLDING_STATUSES
            )
            .order_by("return_slip_id")
            .values("order_line_id", "return_slip_id", "return_slip__raw_refund_id", "return_slip__status")
        ):
            return_held[row["order_line_id"]].append(row)
        linked_return = dict(
            ReturnSlip.objects.filter(raw_refund_id__in=ids, status__in=RETURN_HOLDING_STATUSES)
            .order_by("pk")
            .values_list("raw_refund_id", "pk")
        )
        shop_ids = {o.shop_id for o in orders.values()}
        strategies = dict(
            ShopRefundSettings.objects.filter(shop_id__in=shop_ids).values_list("shop_id", "strategy")
        )
        for shop_id in shop_ids - set(strategies):
            strategies[shop_id] = shop_refund_settings(shop_id).strategy
        pending = []
        for raw in raws:
            refusal = _raw_refusal(raw)
            line = lines.get(raw.order_line_id)
            if refusal is None and raw.order_line_id in refund_held:
                number, status = refund_held[raw.order_line_id]
                refusal = _refund_held_message(line.oid, line.goods_name, number, status, "退款单")
            if refusal is None:
                for row in return_held.get(raw.order_line_id, []):
                    if row["return_slip__raw_refund_id"] != raw.pk:
                        number = ReturnSlip(pk=row["return_slip_id"]).number
                        status = ReturnStatus(row["return_slip__status"]).label
                        refusal = _return_held_message(line.oid, line.goods_name, number, status)
                        break
            if refusal is None:
                order = orders[raw.order_id]
                strategy = strategies[order.shop_id]
                quote = quote_refund(
                    _quote_order(order, lines_of[order.pk], promotions_of[order.pk]),
                    {line.pk: raw.num},
                    strategy=strategy,
                    already_refunded=already[order.pk],
                )
                if quote.refusal:
                    refusal = f"订单 {order.tid}：{quote.refusal}"
            if refusal is not None:
                result.refused[raw.refund_no] = refusal
                continue
            slip = RefundSlip(
                shop_id=order.shop_id,
                order=order,
                raw_refund=raw,
                return_slip_id=linked_return.get(raw.pk),
                source=RefundSource.RAW_REFUND,
                reason=(reason or raw.reason)[:200],
                whole_order=quote.whole_order,
                strategy=strategy,
                computed_amount=quote.amount,
                amount=quote.amount,
                quote=quote.text,
                attention=raw.keyword_warning,
                created_by=actor_user(by),
                created_by_name=actor_name(by),
            )
            pending.append((slip, line, raw, quote.line_amounts.get(line.pk, quote.amount)))
            # Later raw refund slips of the chunk see this one like any earlier slip.
            refund_held[line.pk] = ("（本批新建）", RefundSlipStatus.PENDING_REVIEW.label)
            already[order.pk][line.pk] += raw.num
        if not pending:
            return
        RefundSlip.objects.bulk_create([slip for slip, *_ in pending])
        RefundSlipLine.objects.bulk_create(
            [
                RefundSlipLine(refund_slip=slip, order_line=line, quantity=raw.num, amount=amount)
                for slip, line, raw, amount in pending
            ]
        )
        for slip, _, raw, _ in pending:
            record_event(
                slip,
                action="创建退款单",
                by=by,
                field="status",
                to_state="待审核",
                reason=f"原始退款单 {raw.refund_no}；计算金额 {slip.amount} 元（{slip.get_strategy_display()}）",
            )
        result.created.extend(slip for slip, *_ in pending)


def _amount_or_refuse(label: str, value) -> Decimal:
    if isinstance(value, float):
        raise RefundSlipRefused(f"{label}须为金额（两位小数），不能是浮点数")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise RefundSlipRefused(f"{label}“{value}”不是有效金额") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise RefundSlipRefused(f"{label}“{value}”不是有效金额（最多两位小数）")
    if abs(amount) > Decimal("9999999999.99"):
        raise RefundSlipRefused(f"{label}“{value}”超出范围")
    return money(amount)


# --- amount changes ---------------------------------------------------------------------------------------
def _add_adjustment(slip: RefundSlip, *, by, kind: str, amount: Decimal, reason: str) -> RefundAdjustment:
    adjustment = RefundAdjustment.objects.create(
        refund_slip=slip, kind=kind, amount=amount, reason=reason, by=actor_user(by), by_name=actor_name(by)
    )
    before = slip.amount
    slip.amount = money(slip.amount + amount)
    fields = ["amount", "updated_at"]
    if slip.level1_at is not None:
        # An approval was for the old amount: the new one is reviewed again, from level 1.
        slip.level1_by, slip.level1_by_name, slip.level1_at, slip.levels_required = None, "", None, 1
        fields += ["level1_by", "level1_by_name", "level1_at", "levels_required"]
    slip.save(update_fields=fields)
    record_event(
        slip,
        action=f"调整金额（{AdjustmentKind(kind).label}）",
        by=by,
        field="amount",
        from_state=before,
        to_state=slip.amount,
        reason=reason,
    )
    return adjustment


def refund_slip_adjust(slip_id: int, *, by, kind: str, amount, reason: str) -> RefundSlip:
    """CS change the amount (补偿, 运费, other) with a required reason; only while 待审核. `amount` is
    signed (a deduction is negative). An earlier level-1 approval is withdrawn."""
    if by is not None and not isinstance(by, str) and not _has_perm(by, ADJUST_PERM):
        raise RefundSlipRefused("没有调整退款金额的权限")
    if kind not in AdjustmentKind.values:
        raise RefundSlipRefused(f"调整类型“{kind}”无效（可选：{'、'.join(AdjustmentKind.labels)}）")
    reason = (reason or "").strip()
    if not reason:
        raise RefundSlipRefused("调整金额须填写原因")
    if len(reason) > RefundAdjustment._meta.get_field("reason").max_length:
        raise RefundSlipRefused("调整原因过长，最多 200 个字符")
    delta = _amount_or_refuse("调整金额", amount)
    if delta == 0:
        raise RefundSlipRefused("调整金额不能为 0")
    with transaction.atomic(), batched_events():
        [slip] = list(lock_refund_slips([slip_id]))
        if slip.status != RefundSlipStatus.PENDING_REVIEW:
            raise RefundSlipRefused(
                f"退款单 {slip.number} 当前状态为“{slip.get_status_display()}”，只有待审核的退款单可以调整金额"
            )
        if slip.amount + delta < 0:
            raise RefundSlipRefused(f"退款单 {slip.number}：调整后金额 {slip.amount + delta} 元为负数")
        _add_adjustment(slip, by=by, kind=kind, amount=delta, reason=reason)
    return slip


def refund_slip_add_freight(slip_id: int, *, by, reason: str) -> RefundSlip:
    """退运费: add the order's freight to the slip (an adjustment like any other)."""
    slip = RefundSlip.objects.select_related("order").get(pk=slip_id)
    if not slip.order.post_amount:
        raise RefundSlipRefused(f"订单 {slip.order.tid} 没有运费")
    if slip.adjustments.filter(kind=AdjustmentKind.FREIGHT).exists():
        raise RefundSlipRefused(f"退款单 {slip.number} 已加过运费")
    return refund_slip_adjust(
        slip_id, by=by, kind=AdjustmentKind.FREIGHT, amount=slip.order.post_amount, reason=reason
    )


# --- review ----------------------------------------------------------------------------------------------
@dataclass
class ReviewResult:
    refund_slip: RefundSlip
    message: str


def refund_slip_approve(slip_id: int, *, by, level: int | None = None) -> ReviewResult:
    """审核通过. Level 1 (CS) approves up to the shop's level-1 limit; above it the slip waits for a
    level-2 (finance) approval by someone else, up to the level-2 limit (empty: no limit); above that
    only an administrator. Who approved what, and when, stays on the slip.

    A user's level comes from their permissions. A non-user actor (`by` a string, e.g. an API key)
    has no permissions: it states its `level` (1 gives level-1 approvals like 客服, 2 level-2 ones like
    财务; 0 or None may not approve), and is told apart from the level-1 approver by its name."""
    is_user = bool(getattr(by, "pk", None))
    if not is_user and not (isinstance(by, str) and by and level):
        raise RefundSlipRefused("审核须由登录用户操作")

    def may(perm: str, needed: int) -> bool:
        return _has_perm(by, perm) if is_user else level == needed

    now = timezone.now()
    with transaction.atomic(), batched_events():
        [slip] = list(lock_refund_slips([slip_id]))
        if slip.status != RefundSlipStatus.PENDING_REVIEW:
            raise RefundSlipRefused(f"退款单 {slip.number} 当前状态为“{slip.get_status_display()}”，不能审核")
        settings = shop_refund_settings(slip.shop_id)
        needs_level2 = slip.amount > settings.level1_limit
        if slip.level1_at is None:
            if not may(LEVEL1_PERM, 1):
                raise RefundSlipRefused(f"退款单 {slip.number}：没有一级审核（客服）权限")
            slip.level1_by, slip.level1_by_name, slip.level1_at = actor_user(by), actor_name(by), now
            slip.levels_required = 2 if needs_level2 else 1
            if needs_level2:
                slip.save()
                message = (
                    f"退款单 {slip.number} 一级审核通过；金额 {slip.amount} 元超过一级审核上限 "
                    f"{settings.level1_limit} 元，待财务二级审核"
                )
                record_event(slip, action="一级审核通过", by=by, reason=message)
                return ReviewResult(slip, message)
            slip.approve(
                by=by,
                reason=f"一级审核通过（金额 {slip.amount} 元，一级审核上限 {settings.level1_limit} 元）",
            )
            slip.save()
            return ReviewResult(slip, f"退款单 {slip.number} 审核通过，待退款")
        # Level 2.
        if not may(LEVEL2_PERM, 2):
            raise RefundSlipRefused(
                f"退款单 {slip.number} 金额 {slip.amount} 元超过一级审核上限 {settings.level1_limit} 元，须由财务二级审核"
            )
        same = slip.level1_by_id == by.pk if is_user else slip.level1_by_name == actor_name(by)
        if same:
            raise RefundSlipRefused(
                f"退款单 {slip.number}：一级审核人 {slip.level1_by_name} 不能再做二级审核，请由其他人审核"
            )
        if (
            settings.level2_limit is not None
            and slip.amount > settings.level2_limit
            and not getattr(by, "is_superuser", False)
        ):
            raise RefundSlipRefused(
                f"退款单 {slip.number} 金额 {slip.amount} 元超过二级审核上限 {settings.level2_limit} 元，须由管理员审核"
            )
        slip.level2_by, slip.level2_by_name, slip.level2_at = actor_user(by), actor_name(by), now
        slip.approve(by=by, reason=f"二级审核通过（金额 {slip.amount} 元）")
        slip.save()
    return ReviewResult(slip, f"退款单 {slip.number} 二级审核通过，待退款")


def _close(slip_id: int, action: str, *, by, reason: str, reason_required: bool) -> RefundSlip:
    label = RefundSlip.TRANSITION_LABELS[action]
    reason = (reason or "").strip()
    if reason_required and not reason:
        raise RefundSlipRefused(f"{label}须填写原因")
    if (
        by is not None
        and not isinstance(by, str)
        and not (_has_perm(by, LEVEL1_PERM) or _has_perm(by, LEVEL2_PERM))
    ):
        raise RefundSlipRefused(f"没有{label}退款单的权限")
    with transaction.atomic(), batched_events():
        [slip] = list(lock_refund_slips([slip_id]))
        method = getattr(slip, action)
        if not can_proceed(method):
            raise RefundSlipRefused(
                f"退款单 {slip.number} 当前状态为“{slip.get_status_display()}”，不能{label}"
            )
        method(by=by, reason=reason)
        slip.save()
    return slip


def refund_slip_reject(slip_id: int, *, by, reason: str) -> RefundSlip:
    """驳回 (reason required): the lines are free for another after-sales."""
    return _close(slip_id, "reject", by=by, reason=reason, reason_required=True)


def refund_slip_cancel(slip_id: int, *, by, reason: str = "") -> RefundSlip:
    return _close(slip_id, "cancel", by=by, reason=reason, reason_required=False)


# --- refunded --------------------------------------------------------------------------------------------
def refund_slip_mark_refunded(slip_id: int, *, by, amount=None, reason: str = "") -> RefundSlip:
    """Finance (or an integration over the API) confirms a 待退款 slip was refunded. Slips answering a
    JD refund application are completed by JD's 退款成功 instead (refund_slips_follow_platform).
    `amount`, when given, is what was actually refunded: a difference is flagged like JD's."""
    if by is not None and not isinstance(by, str) and not _has_perm(by, MARK_REFUNDED_PERM):
        raise RefundSlipRefused("没有确认退款完成的权限")
    refunded = _amount_or_refuse("实退金额", amount) if amount not in (None, "") else None
    with transaction.atomic(), batched_events():
        [slip] = list(lock_refund_slips([slip_id]))
        if slip.follows_platform:
            raise RefundSlipRefused(
                f"退款单 {slip.number} 对应京东退款申请，退款完成以京东“退款成功”为准（平台同步后自动完成），不能手工确认"
            )
        if not can_proceed(slip.mark_refunded):
            raise RefundSlipRefused(
                f"退款单 {slip.number} 当前状态为“{slip.get_status_display()}”，只有待退款的退款单可以确认退款完成"
            )
        if refunded is not None and refunded != slip.amount:
            slip.amount_difference = (
                f"实退 {refunded} 元，退款单应退 {slip.amount} 元，相差 {refunded - slip.amount} 元"
            )
            slip.platform_refund_amount = refunded
        slip.mark_refunded(by=by, reason=reason or "确认退款完成", at=timezone.now(), by_name=actor_name(by))
        slip.save()
    return slip


def refund_slips_follow_platform(
    *, shop_id: int | None = None, refund_nos=None, raw_refund_ids=None, limit: int = 500
) -> dict:
    """Open slips whose raw refund slip JD reports 退款成功 become 退款完成 with JD's amount (a
    difference is flagged for finance); 取消退款 cancels them. Called after each platform sync page
    (refunds.signals) and by the periodic sweep."""
    candidates = RefundSlip.objects.filter(
        status__in=OPEN_STATUSES,
        raw_refund__platform_status__in=[PlatformStatus.REFUNDED, PlatformStatus.CANCELLED],
    )
    if shop_id is not None:
        candidates = candidates.filter(shop_id=shop_id)
    if refund_nos is not None:
        candidates = candidates.filter(raw_refund__refund_no__in=list(refund_nos))
    if raw_refund_ids is not None:
        candidates = candidates.filter(raw_refund_id__in=list(raw_refund_ids))
    rows = list(candidates.order_by("pk").values_list("pk", "raw_refund_id")[:limit])
    done = {"completed": 0, "cancelled": 0}
    if not rows:
        return done
    now = timezone.now()
    with transaction.atomic(), batched_events():
        raws = {r.pk: r for r in lock_raw_refunds(sorted({raw_id for _, raw_id in rows}))}
        for slip in lock_refund_slips(
            RefundSlip.objects.filter(pk__in=[pk for pk, _ in rows], status__in=OPEN_STATUSES)
        ):
            raw = raws[slip.raw_refund_id]
            if raw.platform_status == PlatformStatus.REFUNDED:
                slip.complete_by_platform(
                    by=PLATFORM_ACTOR,
                    reason=f"京东原始退款单 {raw.refund_no} 退款成功，实退 {raw.refund_amount} 元",
                    at=now,
                    platform_amount=raw.refund_amount,
                )
                done["completed"] += 1
            elif raw.platform_status == PlatformStatus.CANCELLED:
                slip.cancel(by=PLATFORM_ACTOR, reason=f"买家已取消退款申请（原始退款单 {raw.refund_no}）")
                done["cancelled"] += 1
            slip.save()
    return done


# --- keyword check ---------------------------------------------------------------------------------------
def shop_keywords(settings: ShopRefundSettings) -> dict[str, list[str]]:
    return {
        RETURN: parse_keywords(settings.return_keywords),
        EXCHANGE: parse_keywords(settings.exchange_keywords),
        REPAIR: parse_keywords(settings.repair_keywords),
    }


_KEYWORD_ROW = ("pk", "shop_id", "description", "refund_type", "keyword_warning", "platform_status")


def _raw_rows(shop_id: int, refund_nos=None) -> list[tuple]:
    if refund_nos is not None:
        # By refund_no alone (its own index), the shop checked here: a planner with stale statistics
        # otherwise walks the shop's index over all its slips.
        rows = RawRefund.objects.filter(refund_no__in=list(refund_nos))
    else:
        rows = RawRefund.objects.filter(shop_id=shop_id)
    return [row for row in rows.order_by().values_list(*_KEYWORD_ROW) if row[1] == shop_id]


def _apply_keywords(shop_id: int, rows) -> int:
    if not any(description or current for _, _, description, _, current, _ in rows):
        return 0  # nothing said, nothing flagged: no need to read the shop's keywords
    keywords = shop_keywords(shop_refund_settings(shop_id))
    changed = []
    for pk, _, description, refund_type, current, _ in rows:
        warning = keyword_warning(description, refund_type, keywords)[:200]
        if warning != current:
            changed.append(RawRefund(pk=pk, keyword_warning=warning))
    if changed:
        with transaction.atomic():
            RawRefund.objects.bulk_update(changed, ["keyword_warning"])
            slips = list(
                RefundSlip.objects.filter(raw_refund__in=changed, status__in=OPEN_STATUSES).only(
                    "pk", "raw_refund_id"
                )
            )
            by_raw = {raw.pk: raw.keyword_warning for raw in changed}
            for slip in slips:
                slip.attention = by_raw[slip.raw_refund_id]
            RefundSlip.objects.bulk_update(slips, ["attention"])
    return len(changed)


def raw_refunds_keyword_check(*, shop_id: int, refund_nos=None) -> int:
    """Set the 需关注 keyword warning on the shop's raw refund slips (those of `refund_nos`, or all)
    and on their open refund slips; returns how many raw refund slips changed."""
    return _apply_keywords(shop_id, _raw_rows(shop_id, refund_nos))


def _rows_from_states(shop_id: int, states: dict) -> list[tuple]:
    """_KEYWORD_ROW rows from what the writer just stored, reading only the ids of the slips whose
    warning changes (few) or that JD settled (to follow them): a page of new slips reads nothing."""
    keywords = None
    wanted = set()
    for refund_no, state in states.items():
        if state.platform_status in (PlatformStatus.REFUNDED, PlatformStatus.CANCELLED):
            wanted.add(refund_no)
        elif state.description or state.keyword_warning:
            if keywords is None:
                keywords = shop_keywords(shop_refund_settings(shop_id))
            if keyword_warning(state.description, state.refund_type, keywords)[:200] != state.keyword_warning:
                wanted.add(refund_no)
    if not wanted:
        return []
    ids = dict(
        RawRefund.objects.filter(refund_no__in=list(wanted), shop_id=shop_id).values_list("refund_no", "pk")
    )
    return [
        (ids[no], shop_id, s.description, s.refund_type, s.keyword_warning, s.platform_status)
        for no, s in states.items()
        if no in ids
    ]


def on_raw_refunds_saved(sender, *, shop_id: int, refund_nos, states=None, **kwargs):
    """refunds.signals.raw_refunds_saved: after a platform sync page (or an API push) is committed.
    With the writer's `states`, no read of the page: only the slips whose keyword warning changes or
    that JD settled are looked up (bench/sync.py: a page stays cheap); without, one read of the page.
    The shop's keywords only if someone wrote something, the refund slips only for slips JD refunded
    or the buyer cancelled."""
    rows = _rows_from_states(shop_id, states) if states is not None else _raw_rows(shop_id, refund_nos)
    _apply_keywords(shop_id, rows)
    settled = [row[0] for row in rows if row[5] in (PlatformStatus.REFUNDED, PlatformStatus.CANCELLED)]
    if settled:
        refund_slips_follow_platform(raw_refund_ids=settled)


def refund_slips_sweep() -> dict:
    """The periodic catch-up (beat) for 退款完成 / 取消 that a failed signal receiver left behind. The
    keyword check runs again with the slip's next sync page and when a shop's keywords are saved."""
    return refund_slips_follow_platform()


# --- what the page offers now ----------------------------------------------------------------------------
def allowed_actions(slip: RefundSlip, user) -> list[tuple[str, str]]:
    actions = []
    level1, level2 = _has_perm(user, LEVEL1_PERM), _has_perm(user, LEVEL2_PERM)
    if slip.status == RefundSlipStatus.PENDING_REVIEW:
        if slip.level1_at is None and level1:
            actions.append(("approve", "一级审核通过"))
        elif slip.level1_at is not None and level2 and slip.level1_by_id != user.pk:
            actions.append(("approve", "二级审核通过"))
    if slip.status in OPEN_STATUSES and (level1 or level2):
        actions += [("reject", "驳回"), ("cancel", "取消")]
    if (
        slip.status == RefundSlipStatus.AWAITING_REFUND
        and not slip.follows_platform
        and _has_perm(user, MARK_REFUNDED_PERM)
    ):
        actions.append(("mark_refunded", "确认退款完成"))
    return actions
