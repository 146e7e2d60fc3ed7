"""The writeback verb (退款回传) and the shipment interception (拦截发货).

One code path for every caller: the admin action, the background job for big selections, the
auto-writeback rule and the REST API all call `refund_writeback`. For each slip:
1. claim — a short transaction: lock the row, refuse what must not be sent (already 回传成功, being
   sent by someone else, precondition not met), else move it to 回传中;
2. send — outside any transaction (JD may take seconds);
3. record — a new transaction: 回传成功 or 回传失败, an attempt row, the event (via the FSM).
Two callers racing on a slip: the second finds it 回传中 and sends nothing. A process killed between
1 and 3 leaves the slip 回传中; after the lease (WRITEBACK_LEASE) the next caller takes it again, and
JD (and the sandbox) treat the repeat of the same refId+status as the same writeback.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from erp_aftersales.audit import actor_fields, record_event
from orders.models import InterceptionStatus, Order, OrderLine, OrderStatus, Shop
from sa_sync.errors import JosError
from sa_sync.jos import JosClient, check_business_result, redact

from .models import (
    PlatformStatus,
    RawRefund,
    RefundType,
    WritebackAttempt,
    WritebackJob,
    WritebackKind,
    WritebackOutcome,
    WritebackStatus,
    WritebackTrigger,
)

logger = logging.getLogger(__name__)

ALREADY_DONE = "已回传成功，无需重复回传"
IN_FLIGHT = "正在回传中（另一个操作正在处理该单），请稍后刷新查看结果"
RETRY_BASE = timedelta(minutes=5)
RETRY_CAP = timedelta(hours=6)


@dataclass(frozen=True)
class WritebackResult:
    slip_id: int
    refund_no: str
    outcome: str
    message: str

    @property
    def succeeded(self) -> bool:
        return self.outcome == WritebackOutcome.SUCCEEDED


def warehouse_status_for(kind: str) -> str:
    if kind == WritebackKind.SHIPMENT_CANCELLED:
        return settings.JOS_WAREHOUSE_STATUS_SHIPMENT_CANCELLED
    return settings.JOS_WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE


def retry_at(attempts: int, now=None):
    """Backoff for a retryable failure, stored on the slip: the auto-writeback polls it."""
    delay = min(RETRY_BASE * (2 ** max(0, attempts - 1)), RETRY_CAP)
    return (now or timezone.now()) + delay


# --- the verb -----------------------------------------------------------------------------------
def refund_writeback(
    slip_ids, *, by=None, trigger=WritebackTrigger.MANUAL, job=None, concurrency: int | None = None
) -> list[WritebackResult]:
    """Write back each slip once; returns one result per slip, in the order of `slip_ids`."""
    ids = list(dict.fromkeys(int(i) for i in slip_ids))
    workers = max(1, min(concurrency or settings.WRITEBACK_CONCURRENCY, len(ids) or 1))
    if workers == 1 or connection.vendor == "sqlite" or connection.in_atomic_block:
        # SQLite writes one at a time anyway; inside a caller's transaction threads could not see it.
        return [writeback_one(i, by=by, trigger=trigger, job=job) for i in ids]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="writeback") as pool:
        return list(pool.map(lambda i: _in_thread(writeback_one, i, by=by, trigger=trigger, job=job), ids))


def _in_thread(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()
        connection.close()


def writeback_one(slip_id: int, *, by=None, trigger=WritebackTrigger.MANUAL, job=None) -> WritebackResult:
    claimed = _claim(slip_id, by=by, trigger=trigger, job=job)
    if isinstance(claimed, WritebackResult):
        return claimed
    slip, params = claimed
    started = time.monotonic()
    client = None
    try:
        client = JosClient.for_shop(slip.shop)
        payload = client.call(settings.JOS_WRITEBACK_METHOD, params)
        check_business_result(payload, "result")
        error, response = None, payload
    except JosError as exc:
        error, response = exc, {"code": exc.code, "message": exc.user_message}
    duration_ms = int((time.monotonic() - started) * 1000)
    jos_attempts = (client.last_call or {}).get("attempts", 1) if client else 0
    return _record(
        slip_id, params, error, response, duration_ms, jos_attempts, by=by, trigger=trigger, job=job
    )


def _claim(slip_id, *, by, trigger, job):
    with transaction.atomic():
        slip = (
            RawRefund.objects.select_for_update(of=("self",))
            .select_related("shop", "order", "order_line")
            .get(pk=slip_id)
        )
        if slip.writeback_status == WritebackStatus.SUCCEEDED:
            return _not_sent(slip, WritebackOutcome.SKIPPED, ALREADY_DONE, by, trigger, job)
        if slip.writeback_status == WritebackStatus.SENDING:
            if not slip.claim_expired():
                return _not_sent(slip, WritebackOutcome.SKIPPED, IN_FLIGHT, by, trigger, job)
            slip.release_stale_claim(by="系统：回传超时恢复")
        refusal = slip.writeback_refusal()
        if refusal:
            slip.writeback_message = refusal
            slip.save(
                update_fields=["writeback_status", "writeback_message", "writeback_claimed_at", "updated_at"]
            )
            return _not_sent(slip, WritebackOutcome.REFUSED, refusal, by, trigger, job)
        slip.start_writeback(by=by, reason=WritebackTrigger(trigger).label)
        slip.save()
        params = {
            "orderId": slip.tid,
            "refId": slip.refund_no,
            "status": warehouse_status_for(slip.writeback_kind),
        }
        return slip, params


def _not_sent(slip, outcome, message, by, trigger, job) -> WritebackResult:
    WritebackAttempt.objects.create(
        slip=slip,
        job=job,
        kind=slip.writeback_kind or "",
        trigger=trigger,
        outcome=outcome,
        message=message,
        **actor_fields(by),
    )
    if job is not None:
        _count_job(job, failed=outcome == WritebackOutcome.REFUSED)
    return WritebackResult(slip.pk, slip.refund_no, outcome, message)


def _record(
    slip_id, params, error, response, duration_ms, jos_attempts, *, by, trigger, job
) -> WritebackResult:
    with transaction.atomic():
        slip = RawRefund.objects.select_for_update(of=("self",)).select_related("shop").get(pk=slip_id)
        kind = slip.writeback_kind or ""
        if error is None:
            outcome, message = WritebackOutcome.SUCCEEDED, "操作成功"
        else:
            outcome, message = WritebackOutcome.FAILED, error.user_message
        if slip.writeback_status == WritebackStatus.SENDING:
            if error is None:
                slip.mark_writeback_succeeded(by=by, reason=message)
            else:
                next_at = retry_at(slip.writeback_attempts) if error.retryable else None
                slip.mark_writeback_failed(by=by, reason=message, next_attempt_at=next_at)
            slip.save()
        else:
            # Our lease ran out and another caller took the slip over: keep its state, log ours.
            logger.warning("writeback outcome for slip %s arrived after its lease", slip_id)
        WritebackAttempt.objects.create(
            slip=slip,
            job=job,
            kind=kind,
            trigger=trigger,
            outcome=outcome,
            message=message,
            request_summary={"method": settings.JOS_WRITEBACK_METHOD, **redact(params)},
            response_code="0" if error is None else str(error.code),
            response=_short(response),
            jos_attempts=jos_attempts,
            duration_ms=duration_ms,
            **actor_fields(by),
        )
        if error is not None and error.credential_problem:
            Shop.objects.filter(pk=slip.shop_id).update(
                credential_error=error.user_message[:300], credential_error_at=timezone.now()
            )
        elif error is None and slip.shop.credential_error:
            Shop.objects.filter(pk=slip.shop_id).update(credential_error="", credential_error_at=None)
        if job is not None:
            _count_job(job, succeeded=error is None, failed=error is not None)
    return WritebackResult(slip.pk, slip.refund_no, outcome, message)


def _short(response) -> dict:
    """What JD answered, small enough to keep per attempt."""
    if not isinstance(response, dict):
        return {"text": str(response)[:500]}
    text = str(response)
    return response if len(text) <= 2000 else {"truncated": text[:2000]}


def _count_job(job, succeeded=False, failed=False):
    WritebackJob.objects.filter(pk=job.pk).update(
        done=F("done") + 1, succeeded=F("succeeded") + int(succeeded), failed=F("failed") + int(failed)
    )


# --- big selections: a background job with progress ---------------------------------------------
def start_writeback_job(slip_ids, *, by, trigger=WritebackTrigger.MANUAL) -> WritebackJob:
    from .tasks import run_writeback_job

    ids = list(dict.fromkeys(int(i) for i in slip_ids))
    job = WritebackJob.objects.create(
        created_by=by if getattr(by, "pk", None) else None, trigger=trigger, slip_ids=ids, total=len(ids)
    )
    run_writeback_job.delay_on_commit(job.pk)
    return job


def run_writeback_job(job_id: int) -> WritebackJob | None:
    """Idempotent: a redelivered task skips the slips this job already handled."""
    with transaction.atomic():
        job = WritebackJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == WritebackJob.Status.DONE:
            return job
        job.status = WritebackJob.Status.RUNNING
        job.save(update_fields=["status"])
    handled = set(WritebackAttempt.objects.filter(job=job).values_list("slip_id", flat=True))
    todo = [i for i in job.slip_ids if i not in handled]
    by = job.created_by or "系统：批量回传"
    for start in range(0, len(todo), 50):
        refund_writeback(todo[start : start + 50], by=by, trigger=job.trigger, job=job)
    WritebackJob.objects.filter(pk=job.pk).update(status=WritebackJob.Status.DONE, finished_at=timezone.now())
    job.refresh_from_db()
    return job


# --- interception (拦截发货) ----------------------------------------------------------------------
INTERCEPT_ACTOR = "系统：拦截发货"


def intercept_for_refunds(slips, *, by=INTERCEPT_ACTOR) -> int:
    """`slips`: a queryset or ids. A refund-only slip (退款 + 申请退款) stops its line from shipping, as far as the order allows:
    ≤ 待财审: the line is cancelled at once (no line left → order 已取消); in the warehouse (55): the
    warehouse must confirm; shipped: impossible, the slip is flagged for CS. Returns lines touched."""
    touched = 0
    base = slips if hasattr(slips, "filter") else RawRefund.objects.filter(pk__in=list(slips))
    candidates = (
        base.filter(
            refund_type=RefundType.REFUND,
            platform_status=PlatformStatus.APPLIED,
            order_line__isnull=False,
            order_line__interception_status=InterceptionStatus.NONE,
            order_line__is_cancelled=False,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for slip_id in candidates:
        with transaction.atomic():
            slip = (
                RawRefund.objects.select_for_update(of=("self",))
                .select_related("order_line", "order")
                .get(pk=slip_id)
            )
            line = OrderLine.objects.select_for_update().get(pk=slip.order_line_id)
            order = Order.objects.select_for_update().get(pk=slip.order_id)
            if line.interception_status != InterceptionStatus.NONE or line.is_cancelled:
                continue
            if order.status in (OrderStatus.AWAITING_CS_REVIEW, OrderStatus.AWAITING_FINANCE_REVIEW):
                _cancel_line(line, order, by, f"退款单 {slip.refund_no} 申请退款，订单未出库，已取消该子订单")
            elif order.status == OrderStatus.IN_WAREHOUSE:
                _set_interception(
                    line,
                    InterceptionStatus.PENDING,
                    by,
                    f"退款单 {slip.refund_no} 申请退款，订单已在仓库处理，等待仓库确认拦截",
                )
                _flag(slip, "拦截中，待仓库确认")
            elif order.status >= OrderStatus.SHIPPED:
                _set_interception(
                    line,
                    InterceptionStatus.FAILED,
                    by,
                    f"退款单 {slip.refund_no} 申请退款，但订单已发货，无法拦截",
                )
                _flag(slip, "拦截失败：订单已发货")
            else:
                continue
            touched += 1
    return touched


def confirm_interception(line_id: int, *, succeeded: bool, by) -> str:
    """The warehouse's answer for a pending interception. Returns what happened, in words."""
    with transaction.atomic():
        line = OrderLine.objects.select_for_update().select_related("order").get(pk=line_id)
        if line.interception_status != InterceptionStatus.PENDING:
            return f"子订单 {line.oid} 当前为“{line.get_interception_status_display()}”，不是待确认拦截，未作修改"
        order = Order.objects.select_for_update().get(pk=line.order_id)
        slips = list(RawRefund.objects.select_for_update().filter(order_line=line))
        if succeeded:
            _cancel_line(line, order, by, "仓库确认拦截成功，货品未出库")
            for slip in slips:
                _flag(slip, "")
            return f"子订单 {line.oid}：已确认拦截成功，可回传取消发货成功"
        _set_interception(line, InterceptionStatus.FAILED, by, "仓库确认拦截失败，货品已出库")
        for slip in slips:
            _flag(slip, "拦截失败：货品已出库")
        return f"子订单 {line.oid}：已确认拦截失败"


def _set_interception(line, status, by, reason):
    old = line.get_interception_status_display()
    line.interception_status = status
    line.save(update_fields=["interception_status", "updated_at"])
    record_event(
        line,
        action="拦截发货",
        by=by,
        field="interception_status",
        from_state=old,
        to_state=line.get_interception_status_display(),
        reason=reason,
    )


def _cancel_line(line, order, by, reason):
    line.is_cancelled = True
    line.save(update_fields=["is_cancelled", "updated_at"])
    _set_interception(line, InterceptionStatus.SUCCEEDED, by, reason)
    if not order.lines.filter(is_cancelled=False).exists() and order.status != OrderStatus.CANCELLED:
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


def _flag(slip, text):
    if slip.attention != text:
        slip.attention = text
        slip.save(update_fields=["attention", "updated_at"])
