"""Auto-writeback (自动回传): saving a shop's rule (events, the beat schedule), the preview, and a run.

Overlapping runs of one shop (a slow run and the next tick, a second beat by mistake) are kept apart
by a per-shop run lease: a run starts in a short transaction that locks the shop's rule row, finds no
other run of the shop holding an unexpired lease, records itself as running with a lease, and selects
its slips with `SELECT ... FOR UPDATE SKIP LOCKED` (a slip a manual click is claiming right now is
left to it). A second run arriving meanwhile records itself as skipped and sends nothing. The lease
is WRITEBACK_LEASE: a run killed mid-way blocks its shop at most that long, and the slips it left
回传中 are taken over by the next run (the candidate query includes 回传中 slips whose claim is older
than the lease; the writeback service releases them when it claims them).

The lease is an economy, not the guarantee: the writeback service locks each slip and moves it to
回传中 before sending, so even two runs that did overlap (a run slower than the lease, a manual click)
never send a slip twice.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.audit import actor_fields, record_event
from core.bulk import update_rows
from orders.models import ArrivalRule, Shop
from refunds.models import WRITEBACK_LEASE, AutoDecision, PlatformStatus, RawRefund, RefundType

from . import selectors
from .models import AutoWritebackRule, AutoWritebackRun, WritebackOutcome, WritebackTrigger
from .writeback import FRESH_READ_BATCH, refund_writeback

logger = logging.getLogger(__name__)

ACTOR = "系统：自动回传"
TASK_NAME = "refunds.run_auto_writeback"
OUTCOMES_KEPT = 1000  # per-slip rows kept on a run record (a rule sends at most 200 at a time)
RULE_FIELDS = ["enabled", "refund_types", "platform_statuses", "reasons", "interval_minutes", "batch_size"]


# --- saving ---------------------------------------------------------------------------------------
def _display(field: str, value) -> str:
    if field == "enabled":
        return "开启" if value else "关闭"
    if field == "refund_types":
        return "、".join(str(RefundType(v).label) for v in value) or "（无）"
    if field == "platform_statuses":
        return "、".join(str(PlatformStatus(v).label) for v in value) or "（无）"
    if field == "reasons":
        return "、".join(value) or "不限"
    if field == "arrival_rule":
        return ArrivalRule(value).label if value in ArrivalRule.values else value
    return str(value)


def auto_writeback_rule_save(shop, values: dict, *, by) -> tuple[AutoWritebackRule, list[str]]:
    """Apply `values` (rule fields and/or `arrival_rule`) to the shop's rule; validates (model's
    clean + field validators: ValidationError naming the field), leaves an event per changed field,
    and puts the beat schedule in step. Returns the rule and the labels of the changed fields."""
    with transaction.atomic():
        AutoWritebackRule.objects.get_or_create(shop=shop)
        rule = AutoWritebackRule.objects.select_for_update().select_related("shop").get(shop=shop)
        shop = Shop.objects.select_for_update().get(pk=shop.pk)
        old = {f: getattr(rule, f) for f in RULE_FIELDS}
        for f in RULE_FIELDS:
            if f in values:
                setattr(rule, f, values[f])
        rule.full_clean(exclude=["shop", "periodic_task"])
        changed = []
        for f in RULE_FIELDS:
            if old[f] != getattr(rule, f):
                label = str(AutoWritebackRule._meta.get_field(f).verbose_name)
                changed.append(label)
                record_event(
                    rule,
                    action="修改自动回传规则",
                    by=by,
                    field=f,
                    from_state=_display(f, old[f]),
                    to_state=_display(f, getattr(rule, f)),
                    reason=f"{shop.name}：{label}",
                )
        rule.save()
        arrival = values.get("arrival_rule")
        if arrival is not None and arrival != shop.arrival_rule:
            if arrival not in ArrivalRule.values:
                raise ValidationError({"arrival_rule": f"到货规则：未知的取值 {arrival!r}"})
            record_event(
                shop,
                action="修改到货规则",
                by=by,
                field="arrival_rule",
                from_state=_display("arrival_rule", shop.arrival_rule),
                to_state=_display("arrival_rule", arrival),
                reason="退货入库后何时回传“退货入仓”",
            )
            shop.arrival_rule = arrival
            shop.save(update_fields=["arrival_rule", "updated_at"])
            changed.append("到货规则")
        rule.shop = shop
        sync_schedule(rule)
    return rule, changed


def auto_writeback_rule_copy(
    rule, target_shops, *, by, copy_enabled: bool = False
) -> list[tuple[Shop, list[str]]]:
    """The same settings (rule and arrival rule) on other shops, each saved as if typed there.

    开启 (enabled) is copied only when asked: a copy once switched another shop on, and it started
    sending within a minute. Otherwise each target keeps its own switch (off for a new rule)."""
    values = {f: getattr(rule, f) for f in RULE_FIELDS}
    values["arrival_rule"] = rule.shop.arrival_rule
    done = []
    for shop in target_shops:
        if shop.pk == rule.shop_id:
            continue
        if not copy_enabled:
            own = AutoWritebackRule.objects.filter(shop=shop).values_list("enabled", flat=True).first()
            values["enabled"] = bool(own)
        _, changed = auto_writeback_rule_save(shop, values, by=by)
        done.append((shop, changed))
    return done


def task_name(shop) -> str:
    return f"自动回传：{shop.shop_no}"


def sync_schedule(rule) -> PeriodicTask | None:
    """One beat entry per rule (DatabaseScheduler): its interval is the rule's, it runs only while the
    rule is on. Saved with .save() so the scheduler notices the change without a restart."""
    task = rule.periodic_task
    if task is None:
        task = PeriodicTask.objects.filter(name=task_name(rule.shop)).first()
        if task is None and not rule.enabled:
            return None
    interval = IntervalSchedule.objects.filter(
        every=rule.interval_minutes, period=IntervalSchedule.MINUTES
    ).first()
    if interval is None:
        interval = IntervalSchedule.objects.create(
            every=rule.interval_minutes, period=IntervalSchedule.MINUTES
        )
    fields = {
        "name": task_name(rule.shop),
        "task": TASK_NAME,
        "args": json.dumps([rule.shop_id]),
        "interval": interval,
        "enabled": rule.enabled,
        # A run still queued when the next one is due is dropped (the next one does the same work):
        # on a day the workers fall behind, a shop's runs never pile up, and the queue holds at
        # most one interval of runs.
        "expire_seconds": rule.interval_minutes * 60,
        "description": f"按“售后设置：原始退款单”的规则，自动回传 {rule.shop.name} 的退款单（每次至多 {rule.batch_size} 条）。",
    }
    if task is None:
        task = PeriodicTask.objects.create(**fields, last_run_at=_staggered_start(rule))
    else:
        changed = [k for k, v in fields.items() if getattr(task, k) != v]
        if changed:
            for k in changed:
                setattr(task, k, fields[k])
            if rule.enabled and ("enabled" in changed or "interval" in changed):
                task.last_run_at = _staggered_start(rule)
            task.save()
    if rule.periodic_task_id != task.pk:
        rule.periodic_task = task
        AutoWritebackRule.objects.filter(pk=rule.pk).update(periodic_task=task)
    return task


def _staggered_start(rule):
    """A "last run" that puts the shop's first run at its own point of the interval (by shop id),
    so 200 shops switched on together run spread over the interval instead of all at one tick and
    queueing behind each other."""
    interval = rule.interval_minutes * 60
    offset = (rule.shop_id * 0.6180339887 % 1) * interval  # golden-ratio spread: even for any count
    return timezone.now() - timedelta(seconds=offset)


# --- preview ----------------------------------------------------------------------------------------
@dataclass
class Preview:
    selection: selectors.Selection
    excluded: list  # (slip, group, detail), newest first
    counts: dict  # group -> count (over what was looked at)
    over_batch: int
    paused: str  # why nothing would be sent (credentials), or ""

    @property
    def count(self) -> int:
        return 0 if self.paused else len(self.selection.slips)


def auto_writeback_preview(rule, now=None) -> Preview:
    """What the next run would send, by the run's own selection, and what it would leave and why."""
    now = now or timezone.now()
    selection = selectors.select_candidates(rule, now)
    excluded = selectors.explain_exclusions(rule, now, skip_ids=selection.ids, include_done=True, limit=500)
    paused = rule.shop.credential_error
    if paused:
        excluded = [(s, selectors.CREDENTIALS, paused) for s in selection.slips] + excluded
    counts = Counter(group for _, group, _ in excluded)
    over = _over_batch(rule, selection, now)
    if over:
        counts[selectors.OVER_BATCH] += over
    return Preview(selection, excluded, dict(counts), over, paused)


def _over_batch(rule, selection, now) -> int:
    """Candidates beyond this batch, left for the next run (counted only when there are some)."""
    if not selection.more:
        return 0
    return max(0, selectors.count_matches(rule, now) - len(selection.slips) - len(selection.refused))


# --- the run ------------------------------------------------------------------------------------------
def auto_writeback_run(shop_id: int, now=None, *, by=None) -> AutoWritebackRun | None:
    """One run for one shop (the beat task's body). None when the shop has no rule switched on.

    `by` (a person) is 立即运行一次 on the rules page: the saved rule runs now, switched on or not
    (ops try a rule before turning it on), through the same selection and writeback path."""
    rules = AutoWritebackRule.objects.filter(shop_id=shop_id)
    rule = (rules if by is not None else rules.filter(enabled=True)).first()
    if rule is None:
        return None
    started = timezone.now()
    with transaction.atomic():
        # The rule row is the shop's mutex for starting a run (held for this short transaction).
        rule = AutoWritebackRule.objects.select_for_update().select_related("shop").get(pk=rule.pk)
        shop = rule.shop
        if not rule.enabled and by is None:
            return None
        if by is not None:
            record_event(rule, action="立即运行一次", reason="在售后设置页手动运行", by=by)
        snapshot = {f: getattr(rule, f) for f in RULE_FIELDS} | {"arrival_rule": shop.arrival_rule}
        if shop.credential_error:
            return _skipped_run(shop, started, snapshot, f"{selectors.CREDENTIALS}：{shop.credential_error}")
        if not shop.is_active:
            return _skipped_run(shop, started, snapshot, "店铺已停用")
        running = AutoWritebackRun.objects.filter(shop=shop, status=AutoWritebackRun.Status.RUNNING)
        for other in running.select_for_update():
            if other.lease_until and other.lease_until > started:
                return _skipped_run(shop, started, snapshot, f"上一次自动回传（#{other.pk}）仍在进行")
            other.status = AutoWritebackRun.Status.INTERRUPTED
            other.finished_at = started
            other.lease_until = None
            other.note = "运行中断（处理进程退出），已由下一次运行接手"
            other.save(update_fields=["status", "finished_at", "lease_until", "note"])
        run = AutoWritebackRun.objects.create(
            shop=shop,
            started_at=started,
            lease_until=started + WRITEBACK_LEASE,
            rule_snapshot=snapshot,
            started_by=actor_fields(by)["actor_name"] if by is not None else "",
        )
        selection = selectors.select_candidates(rule, now or started, lock=True)
        skipped = Counter(group for _, group, _ in selection.refused)
        over = _over_batch(rule, selection, now or started)
        run.matched = len(selection.slips) + len(selection.refused) + over
        run.slip_ids = selection.ids
        run.save(update_fields=["matched", "slip_ids"])
    if over:
        skipped[selectors.OVER_BATCH] += over
    results, stopped = _send(run, shop, selection.ids)
    return _finish(run, rule, selection, results, stopped, skipped, now)


def _skipped_run(shop, started, snapshot, note) -> AutoWritebackRun:
    return AutoWritebackRun.objects.create(
        shop=shop,
        status=AutoWritebackRun.Status.SKIPPED,
        started_at=started,
        finished_at=timezone.now(),
        note=note[:300],
        rule_snapshot=snapshot,
    )


def _send(run, shop, ids):
    """Through the one writeback path. The first slip goes alone: if JD refuses the shop's
    credentials, one slip learns it, not fifty; after each chunk a credential error stops the run.
    Chunks are a fresh-read batch (50): each call of the service reads JD once per chunk, so smaller
    chunks would multiply the reads. The run's counts move after every chunk: a run whose process
    dies half-way still says how many went out (the history must never say 发送 0 when 76 did)."""
    results = []
    chunk = FRESH_READ_BATCH
    position = 0
    size = 1
    while position < len(ids):
        part = ids[position : position + size]
        outcomes = refund_writeback(part, by=ACTOR, trigger=WritebackTrigger.AUTO)
        results += outcomes
        _count_sent(run, outcomes)
        position += len(part)
        size = chunk
        error = Shop.objects.filter(pk=shop.pk).values_list("credential_error", flat=True).first()
        if error and position < len(ids):
            return results, (ids[position:], error)
    return results, None


def _count_sent(run, outcomes) -> None:
    succeeded = sum(1 for r in outcomes if r.outcome == WritebackOutcome.SUCCEEDED)
    failed = sum(1 for r in outcomes if r.outcome == WritebackOutcome.FAILED)
    if succeeded or failed:
        AutoWritebackRun.objects.filter(pk=run.pk).update(
            sent=F("sent") + succeeded + failed,
            succeeded=F("succeeded") + succeeded,
            failed=F("failed") + failed,
        )


DECISION_FOR_OUTCOME = {
    WritebackOutcome.SUCCEEDED: AutoDecision.SUCCEEDED,
    WritebackOutcome.FAILED: AutoDecision.FAILED,
    WritebackOutcome.SKIPPED: AutoDecision.NOT_SENT,
    WritebackOutcome.REFUSED: AutoDecision.NOT_SENT,
}
DECISION_FIELDS = ["auto_decision", "auto_decision_reason", "auto_decision_at", "auto_decision_run_id"]


def _record_decisions(run, decisions: dict) -> None:
    """Every slip the run looked at carries its verdict, in one bulk UPDATE (no per-row save, no
    event: the run itself is the record; this is the slip's view of it)."""
    now = timezone.now()
    rows = [
        RawRefund(
            pk=slip_id,
            auto_decision=decision,
            auto_decision_reason=reason[:500],
            auto_decision_at=now,
            auto_decision_run_id=run.pk,
        )
        for slip_id, (decision, reason) in sorted(decisions.items())  # id order, as every lock
    ]
    with transaction.atomic():
        update_rows(RawRefund, rows, DECISION_FIELDS)


def run_outcomes(decisions: dict, numbers: dict) -> list[dict]:
    """The run record's per-slip list: sent (成功/失败) first, then not sent, each with its reason;
    at most OUTCOMES_KEPT (the counts above it stay exact)."""
    order = {AutoDecision.SUCCEEDED: 0, AutoDecision.FAILED: 0, AutoDecision.NOT_SENT: 1}
    rows = sorted(decisions.items(), key=lambda kv: (order[kv[1][0]], kv[0]))
    return [
        {
            "slip_id": slip_id,
            "refund_no": numbers.get(slip_id, ""),
            "decision": decision,
            "reason": reason[:300],
        }
        for slip_id, (decision, reason) in rows[:OUTCOMES_KEPT]
    ]


def _finish(run, rule, selection, results, stopped, skipped, now) -> AutoWritebackRun:
    sent = [r for r in results if r.outcome in (WritebackOutcome.SUCCEEDED, WritebackOutcome.FAILED)]
    decisions = {}  # slip id -> (decision, reason): written on the slips below
    numbers = {s.pk: s.refund_no for s in selection.slips} | {
        s.pk: s.refund_no for s, _, _ in selection.refused
    }
    numbers |= {r.slip_id: r.refund_no for r in results}
    for r in results:
        if r.outcome in (WritebackOutcome.SKIPPED, WritebackOutcome.REFUSED):
            skipped[r.message[:60]] += 1
        decisions[r.slip_id] = (DECISION_FOR_OUTCOME[r.outcome], r.message)
    for slip, group, detail in selection.refused:
        decisions[slip.pk] = (AutoDecision.NOT_SENT, f"{group}：{detail}")
    note = ""
    if stopped:
        rest, error = stopped
        skipped[selectors.CREDENTIALS] += len(rest)
        note = f"京东拒绝了该店铺的授权：{error}。自动回传已暂停，请更新授权后恢复"
        for slip_id in rest:
            decisions[slip_id] = (AutoDecision.NOT_SENT, f"{selectors.CREDENTIALS}：{error}")
    # What the rule leaves behind among open slips (waiting retry, above 财审, …), bounded.
    for slip, group, detail in selectors.explain_exclusions(
        rule, now, skip_ids=[s.pk for s in selection.slips] + [s.pk for s, _, _ in selection.refused]
    ):
        skipped[group] += 1
        numbers.setdefault(slip.pk, slip.refund_no)
        decisions.setdefault(slip.pk, (AutoDecision.NOT_SENT, f"{group}：{detail}"))
    _record_decisions(run, decisions)
    run.outcomes = run_outcomes(decisions, numbers)
    run.sent = len(sent)
    run.succeeded = sum(1 for r in sent if r.outcome == WritebackOutcome.SUCCEEDED)
    run.failed = run.sent - run.succeeded
    run.failures = [
        {"slip_id": r.slip_id, "refund_no": r.refund_no, "message": r.message}
        for r in results
        if r.outcome == WritebackOutcome.FAILED
    ]
    run.skipped = dict(skipped)
    run.note = note[:300]
    # A later run may have taken this one over as 已中断 meanwhile: the history keeps saying so.
    interrupted = AutoWritebackRun.objects.filter(
        pk=run.pk, status=AutoWritebackRun.Status.INTERRUPTED
    ).exists()
    run.status = AutoWritebackRun.Status.INTERRUPTED if interrupted else AutoWritebackRun.Status.DONE
    if interrupted:
        note = (note + "；运行超时后被下一次运行接手，以上为本次实际结果").lstrip("；")
        run.note = note[:300]
    run.finished_at = timezone.now()
    run.lease_until = None
    run.save()
    logger.info(
        "auto writeback shop=%s matched=%s sent=%s ok=%s failed=%s",
        run.shop_id,
        run.matched,
        run.sent,
        run.succeeded,
        run.failed,
    )
    return run
