"""The returns verbs: create a return slip, approve / reject / cancel it, record and audit its inbound.

Every verb owns its transaction and locks through the apps' lock modules in the one order: orders →
order lines → raw refund slips → return slips, each by id. The inbound audit decides, in its own
transaction, whether a raw refund slip may now be written back (退货入仓) and asks the one writeback
verb (sa_sync.writeback.refund_writeback) to send it after commit: never a JD call inside a
transaction, and the verb's own claim makes the writeback exactly-once whichever audit asks first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django_fsm import can_proceed

from core.audit import actor_name, actor_user, batched_events, record_event
from orders.after_sales import after_sales_refusal
from orders.locks import lock_order_lines, lock_orders
from orders.models import Order, OrderLine
from refunds.locks import lock_raw_refunds
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from sa_sync.models import WritebackTrigger
from sa_sync.writeback import refund_writeback

from .locks import lock_return_slips
from .models import (
    HOLDING_STATUSES,
    InboundLine,
    ReturnInbound,
    ReturnLine,
    ReturnSlip,
    ReturnStatus,
    ShopReturnSettings,
)

logger = logging.getLogger(__name__)

AUTO_CREATE_ACTOR = "系统：自动建退货单"
WAYBILL_ACTOR = "系统：京东退货物流"
FOLLOWUP_ACTOR = "系统：退货入库回传跟进"


class ReturnRefused(Exception):
    """A verb refused: the message says what, for which slip, with the quantities, in Chinese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _line_label(line: OrderLine) -> str:
    return f"子订单 {line.oid}（{line.goods_name}）"


# --- create -----------------------------------------------------------------------------------------
def held_quantities(order_line_ids, *, exclude_slip_id=None) -> dict[int, int]:
    """What open return slips (HOLDING_STATUSES) already hold, per order line."""
    rows = ReturnLine.objects.filter(
        order_line_id__in=list(order_line_ids), return_slip__status__in=HOLDING_STATUSES
    )
    if exclude_slip_id is not None:
        rows = rows.exclude(return_slip_id=exclude_slip_id)
    return {
        row["order_line_id"]: row["total"]
        for row in rows.values("order_line_id").annotate(total=Sum("quantity")).order_by()
    }


def return_slip_create(
    *,
    by,
    raw_refund: RawRefund | None = None,
    quantity: int | None = None,
    order: Order | None = None,
    lines: dict[int, int] | None = None,
    logistics_company: str = "",
    logistics_no: str = "",
    remark: str = "",
    approve: bool = False,
) -> ReturnSlip:
    """A return slip from a raw refund slip of type 退货 (for `quantity`, default what is left of
    its num), or by hand against `order` with `lines` = {order line id: quantity}."""
    if raw_refund is not None and not logistics_no:
        # The buyer's parcel as JD shows it (等待收货): the warehouse scans this waybill.
        logistics_company = logistics_company or raw_refund.return_logistics_company
        logistics_no = raw_refund.return_logistics_no
    # Typed by hand: refuse what the columns cannot hold (PostgreSQL would fail the insert).
    for label, value, field_name in (
        ("物流公司", logistics_company, "logistics_company"),
        ("物流单号", logistics_no, "logistics_no"),
        ("备注", remark, "remark"),
    ):
        limit = ReturnSlip._meta.get_field(field_name).max_length
        if len(value) > limit:
            raise ReturnRefused(f"{label}过长：{len(value)} 个字符，最多 {limit} 个")
    if raw_refund is not None:
        if raw_refund.refund_type != RefundType.RETURN:
            raise ReturnRefused(
                f"原始退款单 {raw_refund.refund_no} 的类型为“{raw_refund.get_refund_type_display()}”，"
                "只有“退货”类型可以建退货单"
            )
        if raw_refund.order_line_id is None:
            raise ReturnRefused(
                f"原始退款单 {raw_refund.refund_no} 未匹配到子订单，无法建退货单，请先同步订单"
            )
        order_id = raw_refund.order_id
        line_ids = [raw_refund.order_line_id]
    else:
        if order is None or not lines:
            raise ReturnRefused("请选择系统订单和要退的子订单及数量")
        order_id = order.pk
        line_ids = sorted(lines)

    with transaction.atomic(), batched_events():
        [locked_order] = list(lock_orders([order_id]))
        locked_lines = {line.pk: line for line in lock_order_lines(line_ids)}
        if raw_refund is not None:
            [raw_refund] = list(lock_raw_refunds([raw_refund.pk]))
            taken = (
                ReturnLine.objects.filter(
                    return_slip__raw_refund=raw_refund, return_slip__status__in=HOLDING_STATUSES
                ).aggregate(total=Sum("quantity"))["total"]
                or 0
            )
            left = raw_refund.num - taken
            if quantity is None:
                quantity = left
            if quantity <= 0 or quantity > left:
                raise ReturnRefused(
                    f"原始退款单 {raw_refund.refund_no}：退货数量 {quantity} 超过可建数量 {max(left, 0)}"
                    f"（退款数量 {raw_refund.num}，其他未关闭退货单已建 {taken}）"
                )
            lines = {raw_refund.order_line_id: quantity}
        for line_id in line_ids:
            line = locked_lines.get(line_id)
            if line is None or line.order_id != locked_order.pk:
                raise ReturnRefused(f"子订单 {line_id} 不属于订单 {locked_order.tid}")
        # A line with an open refund slip of another case (e.g. a 超时赔付) gets no return slip until
        # that one is closed; the refund slip of this raw refund slip is the same case (orders/after_sales).
        refusal = after_sales_refusal(
            line_ids, kind="return", raw_refund_id=raw_refund.pk if raw_refund is not None else None
        )
        if refusal:
            raise ReturnRefused(refusal)
        held = held_quantities(line_ids)
        for line_id in line_ids:
            line, wanted = locked_lines[line_id], lines[line_id]
            available = line.num - held.get(line_id, 0)
            if wanted <= 0:
                raise ReturnRefused(f"{_line_label(line)}：退货数量须大于 0（填写 {wanted}）")
            if wanted > available:
                raise ReturnRefused(
                    f"{_line_label(line)}：退货数量 {wanted} 超过可退数量 {max(available, 0)}"
                    f"（购买 {line.num}，其他未关闭退货单已占 {held.get(line_id, 0)}）"
                )
        slip = ReturnSlip.objects.create(
            shop_id=locked_order.shop_id,
            order=locked_order,
            raw_refund=raw_refund,
            logistics_company=logistics_company,
            logistics_no=logistics_no.strip(),
            remark=remark,
            created_by=actor_user(by),
            created_by_name=actor_name(by),
        )
        ReturnLine.objects.bulk_create(
            [ReturnLine(return_slip=slip, order_line_id=i, quantity=lines[i]) for i in line_ids]
        )
        source = f"原始退款单 {raw_refund.refund_no}" if raw_refund else "手工"
        record_event(slip, action="创建退货单", by=by, field="status", to_state="待审核", reason=source)
        if approve:
            slip.approve(by=by, reason="自动审核", at=timezone.now())
            slip.save()
    return slip


# --- approve / reject / cancel -----------------------------------------------------------------------
TRANSITIONS = {"approve": "审核通过", "reject": "驳回", "cancel": "取消"}


def return_slip_transition(slip_id: int, action: str, *, by, reason: str = "") -> ReturnSlip:
    if action not in TRANSITIONS:
        raise ValueError(action)
    with transaction.atomic(), batched_events():
        [slip] = list(lock_return_slips([slip_id]))
        method = getattr(slip, action)
        if not can_proceed(method):
            raise ReturnRefused(
                f"退货单 {slip.number} 当前状态为“{slip.get_status_display()}”，不能{TRANSITIONS[action]}"
            )
        if action == "approve":
            method(by=by, reason=reason, at=timezone.now())
        else:
            method(by=by, reason=reason)
        slip.save()
    return slip


def allowed_transitions(slip: ReturnSlip) -> list[tuple[str, str]]:
    """(action, label) the slip may take now: the page shows only these buttons."""
    return [(name, label) for name, label in TRANSITIONS.items() if can_proceed(getattr(slip, name))]


# --- inbound ------------------------------------------------------------------------------------------
def _record_inbound(slip: ReturnSlip, received: dict[int, tuple[int, int]], *, by) -> ReturnInbound:
    """Record what arrived; the caller holds the return slip's lock. Lines not given are 0 / 0."""
    if slip.status != ReturnStatus.AWAITING_INBOUND:
        raise ReturnRefused(
            f"退货单 {slip.number} 当前状态为“{slip.get_status_display()}”，只有“待入库”的退货单可以登记入库"
        )
    inbound, _ = ReturnInbound.objects.get_or_create(return_slip=slip)
    if inbound.audited:
        raise ReturnRefused(f"退货单 {slip.number} 的入库单已审核，不能再修改入库数量")
    return_lines = {line.pk: line for line in slip.lines.select_related("order_line")}
    unknown = set(received) - set(return_lines)
    if unknown:
        raise ReturnRefused(f"退货单 {slip.number} 没有明细 {sorted(unknown)}")
    rows = []
    for line_id, line in return_lines.items():
        good, damaged = received.get(line_id, (0, 0))
        if good < 0 or damaged < 0:
            raise ReturnRefused(f"{_line_label(line.order_line)}：入库数量不能为负数")
        if good + damaged > line.quantity:
            raise ReturnRefused(
                f"退货单 {slip.number} {_line_label(line.order_line)}：实收 {good + damaged}"
                f"（良品 {good}，残次 {damaged}）超过退货数量 {line.quantity}"
            )
        rows.append(
            InboundLine(inbound=inbound, return_line=line, good_quantity=good, damaged_quantity=damaged)
        )
    InboundLine.objects.filter(inbound=inbound).delete()
    InboundLine.objects.bulk_create(rows)
    inbound.recorded_by_name = actor_name(by)
    inbound.save()
    summary = "；".join(
        f"{r.return_line.order_line.oid} 良品 {r.good_quantity} 残次 {r.damaged_quantity}" for r in rows
    )
    record_event(slip, action="登记入库数量", by=by, reason=summary)
    return inbound


def return_inbound_record(slip_id: int, received: dict[int, tuple[int, int]], *, by) -> ReturnInbound:
    """The warehouse records what arrived per return line: {return line id: (good, damaged)}."""
    with transaction.atomic(), batched_events():
        [slip] = list(lock_return_slips([slip_id]))
        return _record_inbound(slip, received, by=by)


@dataclass
class AuditResult:
    return_slip: ReturnSlip
    completed: bool
    message: str
    # raw refund slip id → why it is not sent now (None: asked to be written back after commit)
    decisions: dict[int, str | None] = field(default_factory=dict)
    refund_nos: dict[int, str] = field(default_factory=dict)
    # filled after commit by the writeback verb (empty until the outermost transaction commits)
    writeback_results: list = field(default_factory=list)


def return_inbound_audit(
    slip_id: int, *, by, received: dict[int, tuple[int, int]] | None = None
) -> AuditResult:
    """入库审核. With `received`, records those quantities first in the same transaction (the scan page).

    Received ≠ requested: the slip goes to 待客服确认 with the difference, nothing is audited. Otherwise
    入库完成, and each raw refund slip of the lines touched gets its new total and the decision."""
    slip = ReturnSlip.objects.get(pk=slip_id)  # unlocked: only to know which rows to lock
    line_ids = sorted(slip.lines.values_list("order_line_id", flat=True))
    result = None
    with transaction.atomic(), batched_events():
        list(lock_orders([slip.order_id]))
        list(lock_order_lines(line_ids))
        raws = list(
            lock_raw_refunds(
                RawRefund.objects.select_related("shop", "order", "order_line").filter(
                    Q(pk=slip.raw_refund_id) | Q(order_line_id__in=line_ids, refund_type=RefundType.RETURN)
                )
            )
        )
        [slip] = list(lock_return_slips([slip_id]))
        if received is not None:
            _record_inbound(slip, received, by=by)
        inbound = ReturnInbound.objects.filter(return_slip=slip).first()
        if inbound is not None and inbound.audited:
            raise ReturnRefused(
                f"退货单 {slip.number} 的入库单已于 {timezone.localtime(inbound.audited_at):%Y-%m-%d %H:%M} "
                f"由 {inbound.audited_by_name} 审核，不能重复审核"
            )
        if slip.status != ReturnStatus.AWAITING_INBOUND:
            raise ReturnRefused(
                f"退货单 {slip.number} 当前状态为“{slip.get_status_display()}”，只有“待入库”的退货单可以入库审核"
            )
        if inbound is None:
            raise ReturnRefused(f"退货单 {slip.number} 尚未登记入库数量，请先填写良品/残次数量")
        differences = _differences(inbound)
        if differences:
            message = "实收与申请不符：" + "；".join(differences)
            slip.send_to_cs(by=by, reason=message)
            slip.save()
            result = AuditResult(slip, completed=False, message=message + "，已转客服确认")
        else:
            result = _complete(slip, inbound, raws, by=by, transition=slip.complete_inbound)
    return result


def return_slip_accept_received(slip_id: int, *, by, reason: str = "") -> AuditResult:
    """CS settle a 待客服确认 slip with what actually arrived: each line's quantity becomes what was
    received, the inbound counts as audited, and the arrival rule is checked as after any audit."""
    slip = ReturnSlip.objects.get(pk=slip_id)
    line_ids = sorted(slip.lines.values_list("order_line_id", flat=True))
    with transaction.atomic(), batched_events():
        list(lock_orders([slip.order_id]))
        list(lock_order_lines(line_ids))
        raws = list(
            lock_raw_refunds(
                RawRefund.objects.select_related("shop", "order", "order_line").filter(
                    Q(pk=slip.raw_refund_id) | Q(order_line_id__in=line_ids, refund_type=RefundType.RETURN)
                )
            )
        )
        [slip] = list(lock_return_slips([slip_id]))
        if slip.status != ReturnStatus.AWAITING_CS:
            raise ReturnRefused(
                f"退货单 {slip.number} 当前状态为“{slip.get_status_display()}”，只有“待客服确认”的退货单可以按实收确认"
            )
        inbound = ReturnInbound.objects.get(return_slip=slip)
        if not any(row.received for row in inbound.lines.all()):
            raise ReturnRefused(f"退货单 {slip.number} 实收为 0，无法按实收确认；如买家未退回，请取消退货单")
        changes = []
        for row in inbound.lines.select_related("return_line__order_line"):
            line = row.return_line
            if row.received != line.quantity:
                changes.append(f"{line.order_line.oid} {line.quantity} → {row.received}")
                if row.received == 0:
                    line.delete()
                    row.delete()
                else:
                    line.quantity = row.received
                    line.save(update_fields=["quantity"])
        note = "按实收调整数量：" + "；".join(changes) if changes else "按实收确认"
        return _complete(slip, inbound, raws, by=by, transition=slip.accept_received, reason=(reason or note))


def _differences(inbound: ReturnInbound) -> list[str]:
    out = []
    for row in inbound.lines.select_related("return_line__order_line"):
        line = row.return_line
        if row.received != line.quantity:
            out.append(
                f"{_line_label(line.order_line)} 申请 {line.quantity}，实收 {row.received}"
                f"（良品 {row.good_quantity}，残次 {row.damaged_quantity}），相差 {line.quantity - row.received}"
            )
    return out


def _complete(slip, inbound, raws, *, by, transition, reason="入库审核通过") -> AuditResult:
    """Inside the caller's locked transaction: audit the inbound, then decide per raw refund slip."""
    now = timezone.now()
    inbound.audited, inbound.audited_at = True, now
    inbound.audited_by, inbound.audited_by_name = actor_user(by), actor_name(by)
    inbound.save()
    transition(by=by, reason=reason)
    slip.save()
    decisions = {raw.pk: _arrival_decision(raw, slip, by=by) for raw in raws if raw.order_line_id}
    result = AuditResult(
        slip, completed=True, message=f"退货单 {slip.number} 入库审核完成", decisions=decisions
    )
    to_send = [raw_id for raw_id, refusal in decisions.items() if refusal is None]
    if to_send:
        transaction.on_commit(partial(_writeback_after_commit, to_send, by, result))
    return result


def audited_good_total(order_line_id: int) -> int:
    """The line's total inbound: audited good quantity over every return slip of the line."""
    return (
        InboundLine.objects.filter(inbound__audited=True, return_line__order_line_id=order_line_id).aggregate(
            total=Sum("good_quantity")
        )["total"]
        or 0
    )


def _arrival_decision(raw: RawRefund, slip: ReturnSlip, *, by) -> str | None:
    """Store the line's new total on the raw refund slip; say why it is not sent now, or None."""
    # Read after the locks: on PostgreSQL each statement sees what a concurrent audit committed
    # before we got the order's lock, so the second of two audits counts both.
    total = audited_good_total(raw.order_line_id)
    fields = ["updated_at"]
    if total != raw.inbound_num:
        record_event(
            raw,
            action="退货入库",
            by=by,
            field="inbound_num",
            from_state=raw.inbound_num,
            to_state=total,
            reason=f"退货单 {slip.number} 入库审核，累计良品入库 {total}/{raw.num}",
        )
        raw.inbound_num = total
        fields.append("inbound_num")
    if raw.writeback_status in (WritebackStatus.SUCCEEDED, WritebackStatus.SENDING):
        # Written back (or being written back) by an earlier audit or by hand: never twice.
        raw.save(update_fields=fields)
        return f"{raw.get_writeback_status_display()}，不重复回传"
    refusal = return_writeback_refusal(raw)
    raw.writeback_message = (refusal or "")[:500]
    fields.append("writeback_message")
    raw.save(update_fields=fields)
    return refusal


def return_writeback_refusal(raw: RawRefund) -> str | None:
    """`writeback_refusal()`, worded for a return whose platform status is not 等待收货 yet."""
    if raw.refund_type == RefundType.RETURN and raw.platform_status != PlatformStatus.AWAITING_RECEIPT:
        if raw.platform_status == PlatformStatus.AWAITING_RETURN:
            return (
                f"已入库 {raw.inbound_num}/{raw.num}，但平台状态为“等待退货”，需为“等待收货”才能回传退货入仓；"
                "平台同步到“等待收货”后将自动回传"
            )
        return (
            f"已入库 {raw.inbound_num}/{raw.num}，但平台状态为“{raw.get_platform_status_display()}”，"
            "不回传退货入仓"
        )
    return raw.writeback_refusal()


def _writeback_after_commit(slip_ids, by, result: AuditResult):
    # After commit: the audit stands whatever JD answers. A crash here leaves the slip sendable and
    # return_writeback_followup() (beat) sends it on its next tick.
    try:
        result.writeback_results = refund_writeback(slip_ids, by=by, trigger=WritebackTrigger.RETURN_INBOUND)
    except Exception:
        logger.exception("退货入仓回传失败（入库审核已提交）：%s", slip_ids)


# --- periodic: auto-create and follow-up ------------------------------------------------------------
def return_slips_auto_create(*, limit: int = 200) -> dict:
    """Return slips for 退货 raw refund slips of shops that switched it on, which have none yet.
    Platform sync sits below returns and must not import it, so beat calls this instead."""
    candidates = (
        RawRefund.objects.filter(
            shop__return_settings__auto_create_from_refunds=True,
            refund_type=RefundType.RETURN,
            platform_status__in=[PlatformStatus.AWAITING_RETURN, PlatformStatus.AWAITING_RECEIPT],
            order_line__isnull=False,
            return_slips__isnull=True,
        )
        .order_by("pk")
        .select_related("order_line")[:limit]
    )
    created, refused = [], {}
    for raw in candidates:
        try:
            created.append(return_slip_create(raw_refund=raw, by=AUTO_CREATE_ACTOR, approve=True))
        except ReturnRefused as exc:
            refused[raw.refund_no] = exc.message
            logger.info("自动建退货单未建：%s", exc.message)
    return {"created": created, "refused": refused}


def return_slip_waybills_fill(*, limit: int = 500) -> int:
    """Return slips waiting for their parcel without a waybill, whose raw refund slip now shows the
    one the buyer shipped (a later platform sync: 等待退货 → 等待收货): the slip takes it over, so the
    warehouse can find the parcel by scanning it. A waybill someone typed is never overwritten."""
    ids = list(
        ReturnSlip.objects.filter(
            status__in=[ReturnStatus.PENDING_REVIEW, ReturnStatus.AWAITING_INBOUND],
            logistics_no="",
            raw_refund__isnull=False,
        )
        .exclude(raw_refund__return_logistics_no="")
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    filled = 0
    for slip_id in ids:
        with transaction.atomic():
            [slip] = list(lock_return_slips([slip_id]))
            if slip.logistics_no or slip.status not in (
                ReturnStatus.PENDING_REVIEW,
                ReturnStatus.AWAITING_INBOUND,
            ):
                continue  # typed by hand or moved on meanwhile
            raw = slip.raw_refund
            slip.logistics_company = raw.return_logistics_company
            slip.logistics_no = raw.return_logistics_no
            slip.save(update_fields=["logistics_company", "logistics_no", "updated_at"])
            record_event(
                slip,
                action="买家已寄回",
                by=WAYBILL_ACTOR,
                reason=f"京东显示买家已寄回：{raw.return_logistics_company} {raw.return_logistics_no}".strip(),
            )
            filled += 1
    return filled


def return_writeback_followup(*, limit: int = 200):
    """退货 slips whose goods were audited in while JD still said 等待退货: once a platform sync moves
    them to 等待收货 they become sendable, and this sends them (beat), with the returns trigger."""
    ids = list(
        RawRefund.objects.sendable()
        .filter(
            refund_type=RefundType.RETURN,
            platform_status=PlatformStatus.AWAITING_RECEIPT,
            writeback_status=WritebackStatus.NOT_SENT,
            inbound_num__gt=0,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return []
    return refund_writeback(ids, by=FOLLOWUP_ACTOR, trigger=WritebackTrigger.RETURN_INBOUND)


def shop_return_settings(shop) -> ShopReturnSettings:
    return ShopReturnSettings.objects.get_or_create(shop=shop)[0]
