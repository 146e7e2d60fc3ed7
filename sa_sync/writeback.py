"""The writeback verb (退款回传).

One code path for every caller: the admin action, the background job for big selections, the
auto-writeback rule and the REST API all call `refund_writeback`. For a selection:
1. fresh read: the platform may have moved on since the last sync (the buyer withdrew, JD's
   interception failed). Just before a batch (at most FRESH_READ_BATCH slips, the port's read size)
   is claimed, one read per shop through the platform port (platforms.platform_for(shop).read) takes
   those after-sales' current state, outside any transaction;
2. claim: one short transaction per batch: lock the rows, merge the platform's answer into them as
   the sync merges it, refuse what must not be sent (already 回传成功, being sent by someone else, the
   platform's state or the ERP's precondition says no: the slip stays as it was, with the reason),
   move the rest to 回传中. If the read failed, nothing is sent blind: those slips end 回传失败, retried
   later;
3. send: through the port (write_shipment_cancelled / write_goods_in_warehouse), in threads that touch
   no database, `concurrency` at a time, outside any transaction. The port never repeats a write
   within a call: an answer lost on the way is an unknown outcome, recorded as 回传失败 with 结果未知
   (never as the platform's refusal) and retried later;
4. record: small transactions as outcomes arrive: 回传成功 or 回传失败, an attempt row per slip, the
   events (via the FSM).
Two callers racing on a slip: the second finds it 回传中 and sends nothing. A process killed between
2 and 4 leaves the slip 回传中; after the lease (WRITEBACK_LEASE) the next caller takes it again, and
JD (and the sandbox) treat the repeat of the same writeback to the same application as one.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

import platforms
from core.audit import actor_fields, actor_user, batched_events, build_event, state_label, write_events
from core.bulk import insert_rows, update_rows
from orders.models import Shop
from orders.services import shop_mark_credentials_refused, shop_mark_credentials_working
from platforms import port
from platforms.errors import InternalError, PlatformError
from refunds.locks import lock_raw_refunds
from refunds.models import (
    ALREADY_DONE,
    IN_FLIGHT,
    INTERRUPTED,
    SETTLED_BY_REFUND,
    UNKNOWN_RESEND_LIMIT,
    UNKNOWN_STOPPED,
    WRITEBACK_LEASE,
    PlatformStatus,
    RawRefund,
    WritebackStatus,
)

# The ingest's own merge, so a slip reads the same whichever of the two brought the platform's state.
from .ingest import merge
from .models import AutoWritebackRule, WritebackAttempt, WritebackJob, WritebackOutcome, WritebackTrigger
from .platform_sync import SYNC_ACTOR
from .selectors import retry_budget

logger = logging.getLogger(__name__)

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


def recheck_at(now=None):
    """When a writeback whose outcome is unknown is read again from the platform (and, once, resent)."""
    return (now or timezone.now()) + timedelta(seconds=settings.WRITEBACK_UNKNOWN_RECHECK_SECONDS)


def _recheck_note() -> str:
    minutes = max(1, round(settings.WRITEBACK_UNKNOWN_RECHECK_SECONDS / 60))
    return f"约{minutes}分钟后系统先向京东核对状态，京东未处理才重发一次"


STALE_CLAIM = f"{INTERRUPTED}（处理进程退出），结果未知；发送前先向京东核对状态，京东未处理才重发一次"


def retry_at(attempts: int, now=None):
    """Backoff for a retryable failure, stored on the slip: the auto-writeback polls it."""
    delay = min(RETRY_BASE * (2 ** max(0, attempts - 1)), RETRY_CAP)
    return (now or timezone.now()) + delay


# --- the verb -----------------------------------------------------------------------------------
CLAIM_BATCH = 100  # slips locked and claimed per transaction
FRESH_READ_BATCH = port.READ_BATCH  # one read of the platform per 50 slips (JD's page size)
RECORD_BATCH = 25  # outcomes written per transaction, as they come back
CLAIM_FIELDS = [
    "writeback_status",
    "writeback_message",
    "writeback_claimed_at",
    "writeback_attempts",
    "last_writeback_at",
    "next_attempt_at",
    "writeback_unknown_count",
    "updated_at",
]
RECORD_FIELDS = [
    "writeback_status",
    "writeback_message",
    "writeback_claimed_at",
    "last_writeback_at",
    "next_attempt_at",
    "writeback_unknown_count",
    "updated_at",
]


@dataclass
class _Claimed:
    slip: RawRefund  # as claimed (its shop loaded): the sending thread reads it, never the database
    kind: str
    claimed_at: object = None
    checked: str = ""  # what the fresh read found, kept on the attempt
    repeat: bool = False  # an earlier try was cut off with its outcome unknown: this is a repeat
    outcome: port.WriteOutcome | None = None
    duration_ms: int = 0

    @property
    def slip_id(self) -> int:
        return self.slip.pk

    @property
    def shop(self) -> Shop:
        return self.slip.shop

    @property
    def error(self) -> PlatformError | None:
        return None if self.outcome is None or self.outcome.accepted else self.outcome.error


def refund_writeback(
    slip_ids, *, by=None, trigger=WritebackTrigger.MANUAL, job=None, concurrency: int | None = None
) -> list[WritebackResult]:
    """Write back each slip once; returns one result per slip, in the order of `slip_ids`.

    Claims happen in short locked transactions, the calls to JD run `concurrency` at a time in
    threads that touch no database, and outcomes are recorded in small transactions as they arrive."""
    ids = list(dict.fromkeys(int(i) for i in slip_ids))
    results: dict[int, WritebackResult] = {}
    workers = max(1, min(concurrency or settings.WRITEBACK_CONCURRENCY, len(ids) or 1))
    # Slips are claimed just before they are sent, one fresh-read batch at a time: the lease
    # (WRITEBACK_LEASE) counts from the claim and 50 slips go out in seconds, while a smaller claim
    # would cost one more call to JD per claim.
    claim_size = min(CLAIM_BATCH, FRESH_READ_BATCH)
    in_flight: set = set()
    buffer: list[_Claimed] = []

    def collect(block: bool):
        nonlocal in_flight
        if not in_flight:
            return
        finished, in_flight = wait(in_flight, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        buffer.extend(f.result() for f in finished)
        if len(buffer) >= RECORD_BATCH:
            results.update(_record_batch(buffer, by=by, trigger=trigger, job=job))
            buffer.clear()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="writeback") as pool:
        try:
            for start in range(0, len(ids), claim_size):
                # The next batch is read and claimed while this one still keeps the threads busy:
                # the read's round trip to JD hides behind the sends instead of stalling them.
                while len(in_flight) >= max(2 * workers, claim_size):
                    collect(block=True)
                batch = ids[start : start + claim_size]
                reads = _read_fresh(batch)
                done, to_send = _claim_batch(batch, by=by, trigger=trigger, job=job, reads=reads)
                results.update(done)
                in_flight.update(pool.submit(_send, item) for item in to_send)
                collect(block=False)
        finally:
            # Whatever happened above, what was sent is recorded.
            while in_flight:
                collect(block=True)
            if buffer:
                results.update(_record_batch(buffer, by=by, trigger=trigger, job=job))
    for slip_id in ids:
        results.setdefault(
            slip_id, WritebackResult(slip_id, str(slip_id), WritebackOutcome.REFUSED, "退款单不存在")
        )
    return [results[i] for i in ids]


def _claim_batch(ids, *, by, trigger, job, reads=None):
    """Lock the slips, take JD's fresh answer (`reads`, from `_read_fresh`) into them, decide, and
    claim what goes out. One short transaction; the network was before it."""
    results, to_send, attempts, changed, events, merged = {}, [], [], [], [], set()
    notes = _RetryNotes(job)
    with transaction.atomic(), batched_events():
        slips = lock_raw_refunds(
            RawRefund.objects.select_related("shop", "order", "order_line").filter(pk__in=ids)
        )
        now = timezone.now()
        for slip in slips:
            read = (reads or {}).get(slip.shop_id)
            checked = ""
            if slip.writeback_status == WritebackStatus.SUCCEEDED:
                outcome, message = WritebackOutcome.SKIPPED, ALREADY_DONE
            elif slip.writeback_status == WritebackStatus.SENDING and not slip.claim_expired():
                outcome, message = WritebackOutcome.SKIPPED, IN_FLIGHT
            else:
                # A claim whose process died (or a slip the recovery sweep released): JD may or may
                # not have the earlier try. Its outcome is unknown: the rules of 结果未知 apply.
                repeat = slip.writeback_unknown_count > 0 or (
                    slip.writeback_status == WritebackStatus.FAILED
                    and slip.writeback_message.startswith(INTERRUPTED)
                )
                if slip.writeback_status == WritebackStatus.SENDING:
                    # Due at once: the lease (counted from the claim) was the wait before a resend.
                    slip.release_stale_claim(by="系统：回传超时恢复", reason=STALE_CLAIM, next_attempt_at=now)
                    repeat = True
                unknown = slip.writeback_status == WritebackStatus.UNKNOWN
                known_code, known_status = slip.platform_status_code, slip.platform_status
                checked, unreadable = _apply_fresh(slip, read, events, merged)
                moved = slip.platform_status != known_status or known_code not in (
                    "",
                    slip.platform_status_code,
                )
                changed.append(slip)
                if unknown and not unreadable and slip.platform_status == PlatformStatus.REFUNDED:
                    # JD refunded since: our lost writeback arrived (or did not matter). Nothing is sent.
                    outcome, message = WritebackOutcome.SUCCEEDED, SETTLED_BY_REFUND
                    slip.settle_writeback_succeeded(by=by, reason=message)
                elif unknown and unreadable:
                    # Not sent blind, still unknown: the recovery sweep reads JD again later.
                    outcome = WritebackOutcome.FAILED if read.error is not None else WritebackOutcome.REFUSED
                    message = f"{unreadable}；结果仍未知，系统稍后再次向京东核对"[:500]
                    slip.writeback_message, slip.last_writeback_at = message, now
                    slip.next_attempt_at = recheck_at(now)
                # Decided on what we know now, JD's fresh state included (JD's word comes first).
                elif message := slip.writeback_refusal():
                    outcome = WritebackOutcome.REFUSED
                    # Say so when it is the fresh read that stopped it (JD moved since the sync).
                    message = (f"{message}（{checked}）" if moved else message)[:500]
                    slip.refuse_writeback(by=by, reason=message, now=now)
                elif unreadable:
                    # Nothing is sent blind: JD did not answer (retried later) or does not know it.
                    slip.start_writeback(by=by, reason=WritebackTrigger(trigger).label)
                    retry = read.error is not None
                    outcome = WritebackOutcome.FAILED if retry else WritebackOutcome.REFUSED
                    message = (unreadable + notes.after_failure(slip, slip.shop, retry))[:500]
                    next_at = retry_at(slip.writeback_attempts, now) if retry else None
                    slip.mark_writeback_failed(by=by, reason=message, next_attempt_at=next_at)
                elif slip.writeback_unknown_count > UNKNOWN_RESEND_LIMIT:
                    # Lost twice: never sent automatically again, nor by a click (JD may have both).
                    outcome, message = WritebackOutcome.REFUSED, UNKNOWN_STOPPED
                    if unknown:
                        slip.writeback_message, slip.last_writeback_at = message, now
                        slip.next_attempt_at = recheck_at(now)  # the sweep keeps reading JD
                    else:
                        slip.refuse_writeback(by=by, reason=message, now=now)
                elif unknown and slip.next_attempt_at is not None and slip.next_attempt_at > now:
                    outcome = WritebackOutcome.SKIPPED
                    at = timezone.localtime(slip.next_attempt_at).strftime("%H:%M")
                    message = f"上次回传结果未知，系统将于{at}后先向京东核对状态，京东未处理才重发一次"
                else:
                    slip.start_writeback(by=by, reason=WritebackTrigger(trigger).label)
                    to_send.append(
                        _Claimed(
                            slip,
                            slip.writeback_kind,
                            claimed_at=slip.writeback_claimed_at,
                            checked=checked,
                            repeat=repeat,
                        )
                    )
                    continue
            attempts.append(
                WritebackAttempt(
                    slip=slip,
                    job=job,
                    kind=slip.writeback_kind or "",
                    trigger=trigger,
                    outcome=outcome,
                    message=message,
                    request_summary={**read.request, "checked": checked} if read and checked else {},
                    response_code=str(read.error.code)[:64] if read and read.error else "",
                    **actor_fields(by),
                )
            )
            results[slip.pk] = WritebackResult(slip.pk, slip.refund_no, outcome, message)
        for slip in changed:
            slip.updated_at = now
        update_rows(RawRefund, changed, sorted({*CLAIM_FIELDS, *RECORD_FIELDS, *merged}))
        write_events(events)
        insert_rows(WritebackAttempt, attempts)
        broken = [r for r in (reads or {}).values() if r.error is not None and r.error.credential_problem]
        for shop_id, read in (reads or {}).items():
            if read in broken:
                shop_mark_credentials_refused(shop_id, message=read.error.user_message[:300])
        _count_job(
            job,
            done=len(attempts),
            succeeded=sum(a.outcome == WritebackOutcome.SUCCEEDED for a in attempts),
            failed=sum(a.outcome in (WritebackOutcome.FAILED, WritebackOutcome.REFUSED) for a in attempts),
        )
    return results, to_send


# What the fresh read takes from the platform's answer: its state only. The rest of the after-sales
# (amounts, reasons) is the sync's to bring; the writeback decides on the state.
STATE_FIELDS = ["refund_type", "platform_status", "platform_status_code", "check_time", "platform_modified"]


def _read_fresh(ids) -> dict[int, port.Snapshot]:
    """Network only, no transaction open: the current state of these slips on their platform, one
    read per shop (a claim batch is at most FRESH_READ_BATCH slips, the port's read size).
    Slips already written back are not asked about: nothing will be sent for them."""
    by_shop: dict[int, list] = {}
    objects: dict[int, dict[str, str]] = {}  # the platform object each slip came from, per shop
    shops = {}
    for slip in (
        RawRefund.objects.filter(pk__in=ids)
        .exclude(writeback_status=WritebackStatus.SUCCEEDED)
        .select_related("shop")
        .only("refund_no", "platform_object", "shop")
    ):
        by_shop.setdefault(slip.shop_id, []).append(slip.refund_no)
        objects.setdefault(slip.shop_id, {})[slip.refund_no] = slip.platform_object
        shops[slip.shop_id] = slip.shop
    reads = {}
    for shop_id, refund_nos in by_shop.items():
        try:
            reads[shop_id] = platforms.platform_for(shops[shop_id]).read(refund_nos, objects[shop_id])
        except PlatformError as exc:  # e.g. the shop's credentials are not filled in
            reads[shop_id] = port.Snapshot(error=exc)
        except Exception as exc:  # a bug must not send blind either
            logger.exception("fresh read before writeback failed unexpectedly")
            reads[shop_id] = port.Snapshot(error=InternalError(f"内部错误（{type(exc).__name__}）"))
    return reads


def _apply_fresh(
    slip, read: port.Snapshot | None, events: list, update_fields: set
) -> tuple[str, str | None]:
    """Merge the platform's answer into the slip as the sync does. Returns (what was checked, why the
    slip must fail instead of being sent: the platform did not answer, or does not know it, or its
    row cannot be read; None to decide as usual)."""
    if read is None:
        return "", None
    name = slip.shop.get_platform_display()
    if read.error is not None:
        return "", f"发送前向{name}核对退款单状态失败，未回传：{read.error.user_message}"
    if slip.refund_no in read.unreadable:
        return "", f"发送前核对：{name}返回的退款单无法识别（{read.unreadable[slip.refund_no]}），未回传"
    fields = read.rows.get(slip.refund_no)
    if fields is None:
        return "", f"发送前核对：{name}查无此退款单，未回传，请核对退款单号"
    label = platforms.state_label(slip.shop.platform, fields["platform_status_code"])
    # Merged whatever the stored change time says: this answer is JD's state now, by definition (a
    # slip stamped in the future must not keep a state JD has left), and the decision is taken on it.
    merge(
        slip,
        {k: fields[k] for k in STATE_FIELDS},
        telling=_FreshReadTelling(f"发送前核对{name}退款状态：{label}"),
        events=events,
        update_fields=update_fields,
    )
    return f"发送前已向{name}核对状态：{label}", None


class _FreshReadTelling:
    """The fresh read's merge tells a state move as the sync does, with what it checked."""

    def __init__(self, reason: str):
        self.reason = reason

    def changed(self, slip, changes: dict):
        if "platform_status" not in changes:
            return None
        return build_event(
            slip,
            action="平台同步",
            by=SYNC_ACTOR,
            field="platform_status",
            from_state=state_label(slip, "platform_status", slip.platform_status),
            to_state=state_label(slip, "platform_status", changes["platform_status"]),
            reason=self.reason,
        )


def _send(item: _Claimed) -> _Claimed:
    """Network only: no database in these threads."""
    started = time.monotonic()
    try:
        item.outcome = port.write(platforms.platform_for(item.shop), item.slip, item.kind)
    except PlatformError as exc:  # the port could not even be built (e.g. no credentials)
        item.outcome = port.WriteOutcome(port.NOT_SENT, code=exc.code, error=exc)
        item.outcome.response = {"code": exc.code, "message": exc.user_message}
    except Exception as exc:  # a bug must not leave the slip 回传中 and the user on an error page
        logger.exception("writeback of slip %s failed unexpectedly", item.slip_id)
        error = InternalError("回传时发生内部错误，请稍后重试；如反复出现请联系管理员")
        item.outcome = port.WriteOutcome(port.NOT_SENT, code=error.code, error=error)
        item.outcome.response = {"code": "INTERNAL", "message": type(exc).__name__}
    item.duration_ms = int((time.monotonic() - started) * 1000)
    return item


def _record_batch(items: list[_Claimed], *, by, trigger, job) -> dict[int, WritebackResult]:
    results, attempts, changed = {}, [], []
    broken_shops, healthy_shops = {}, set()
    notes = _RetryNotes(job)
    with transaction.atomic(), batched_events():
        # Locked in id order, as everywhere else: two writers never wait on each other crosswise.
        slips = {slip.pk: slip for slip in lock_raw_refunds([item.slip_id for item in items])}
        now = timezone.now()
        for item in items:
            slip, error = slips[item.slip_id], item.error
            # A credential failure is retried too: the auto-writeback skips the shop until ops fix
            # its credentials, then picks these slips up again; a job tries them again later.
            retry = error is not None and (error.retryable or error.credential_problem)
            # Sent, answer lost: JD may have done it. Never repeated before JD is read again.
            unknown = error is not None and (error.outcome_unknown or item.outcome.outcome == port.UNKNOWN)
            if error is None:
                message = "操作成功"
            elif unknown:
                stopped = slip.writeback_unknown_count + 1 > UNKNOWN_RESEND_LIMIT
                message = f"{error.user_message}；{UNKNOWN_STOPPED if stopped else _recheck_note()}"[:500]
            else:
                message = (error.user_message + notes.after_failure(slip, item.shop, retry))[:500]
            outcome = WritebackOutcome.SUCCEEDED if error is None else WritebackOutcome.FAILED
            ours = (
                slip.writeback_status == WritebackStatus.SENDING
                and slip.writeback_claimed_at == item.claimed_at
            )
            if ours:
                if error is None:
                    slip.mark_writeback_succeeded(by=by, reason=message)
                elif unknown:
                    slip.mark_writeback_unknown(by=by, reason=message, next_attempt_at=recheck_at(now))
                else:
                    next_at = retry_at(slip.writeback_attempts, now) if retry else None
                    slip.mark_writeback_failed(by=by, reason=message, next_attempt_at=next_at)
                slip.updated_at = now
                changed.append(slip)
            else:
                # Our lease ran out and another caller took the slip over: its outcome decides the
                # slip's state; ours is only kept as an attempt.
                logger.warning("writeback outcome for slip %s arrived after its lease", slip.pk)
                message = f"（超时后返回，未更新状态）{message}"[:500]
            if item.repeat:
                name = item.shop.get_platform_display()
                message = f"（上次回传结果未知，本次为唯一一次重发；发送前已向{name}核对状态）{message}"[:500]
            attempts.append(
                WritebackAttempt(
                    slip=slip,
                    job=job,
                    kind=item.kind,
                    trigger=trigger,
                    outcome=outcome,
                    message=message,
                    request_summary={**item.outcome.request, "checked": item.checked},
                    response_code="0" if error is None else str(error.code)[:64],
                    response=_short(item.outcome.response),
                    jos_attempts=item.outcome.attempts,
                    duration_ms=item.duration_ms,
                    **actor_fields(by),
                )
            )
            if error is not None and error.credential_problem:
                broken_shops[item.shop.pk] = error.user_message[:300]
            elif error is None and item.shop.credential_error:
                healthy_shops.add(item.shop.pk)
            results[item.slip_id] = WritebackResult(item.slip_id, item.slip.refund_no, outcome, message)
        update_rows(RawRefund, changed, RECORD_FIELDS)
        insert_rows(WritebackAttempt, attempts)
        for shop_id, message in broken_shops.items():
            shop_mark_credentials_refused(shop_id, message=message)
        shop_mark_credentials_working(healthy_shops - set(broken_shops))
        _count_job(
            job,
            done=len(items),
            succeeded=sum(i.error is None for i in items),
            failed=sum(i.error is not None for i in items),
        )
    return results


def _short(response) -> dict:
    """What JD answered, small enough to keep per attempt."""
    if not isinstance(response, dict):
        return {"text": str(response)[:500]}
    text = str(response)
    return response if len(text) <= 2000 else {"truncated": text[:2000]}


def _count_job(job, done=0, succeeded=0, failed=0):
    if job is None or not done:
        return
    WritebackJob.objects.filter(pk=job.pk).update(
        done=F("done") + done, succeeded=F("succeeded") + succeeded, failed=F("failed") + failed
    )


# --- what a failed slip's message promises: only a retry that will happen --------------------------
class _RetryNotes:
    """The sequel of a retryable failure, appended to its message. A background job tries its slips
    again (up to JOB_RETRY_ROUNDS resumptions); otherwise only an enabled auto-writeback rule of the
    shop that matches the slip, with retries left, sends it again; else the user must."""

    def __init__(self, job):
        self.job = job
        self.rules: dict = {}

    def after_failure(self, slip, shop, retry: bool) -> str:
        if not retry:
            return ""
        if self.job is not None and self.job.resumed_count < JOB_RETRY_ROUNDS:
            return "；本批量任务稍后自动重试"
        if self._rule_retries(slip, shop):
            return "；自动回传规则稍后自动重试"
        return "；请稍后重新回传"

    def _rule_retries(self, slip, shop) -> bool:
        if shop.pk not in self.rules:
            self.rules[shop.pk] = AutoWritebackRule.objects.filter(shop_id=shop.pk, enabled=True).first()
        rule = self.rules[shop.pk]
        return (
            rule is not None
            and shop.sa_writeback_enabled
            and slip.refund_type in rule.refund_types
            and slip.platform_status in rule.platform_statuses
            and (not rule.reasons or slip.reason in rule.reasons)
            and slip.writeback_attempts < retry_budget()
        )


# --- big selections: a background job with progress ---------------------------------------------
WRITEBACK_JOB_TASK = "refunds.run_writeback_job"  # the task's wire name (sa_sync.tasks), kept across moves


def writeback_job_start(slip_ids, *, by, trigger=WritebackTrigger.MANUAL) -> WritebackJob:
    """A big selection as a background job; the task starts once the job row is committed.
    The task is found by name: tasks call services, so services do not import tasks."""
    ids = list(dict.fromkeys(int(i) for i in slip_ids))
    job = WritebackJob.objects.create(
        created_by=actor_user(by),
        created_by_name=by if isinstance(by, str) else "",
        trigger=trigger,
        slip_ids=ids,
        total=len(ids),
    )
    current_app.tasks[WRITEBACK_JOB_TASK].delay_on_commit(job.pk)
    return job


def writeback_job_run(job_id: int) -> WritebackJob | None:
    """Idempotent: a redelivered task skips the slips this job already handled, and a duplicate
    delivery while the job is alive elsewhere (fresh heartbeat) does nothing.

    An outage does not fail the rest of the job: slips whose send failed with a retryable error (JD
    or the rate limiter's Redis did not answer, the shop's authorisation failed) stay the job's, and
    a chunk in which every slip failed that way stops the run there, leaving the rest untouched. The
    job is then 已中断 and the recovery sweep resumes it after the lease (writeback_recover), which
    sends what is left and tries those slips again, up to JOB_RETRY_ROUNDS resumptions; the last
    one finishes the job whatever happens."""
    now = timezone.now()
    with transaction.atomic():
        job = WritebackJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == WritebackJob.Status.DONE:
            return job
        if job.status == WritebackJob.Status.RUNNING and not job_is_dead(job, now):
            return job
        # A job that had started before lost its worker or stopped at an outage: this run resumes it.
        resumed = job.status != WritebackJob.Status.QUEUED
        job.status = WritebackJob.Status.RUNNING
        job.heartbeat_at = now
        fields = ["status", "heartbeat_at"]
        if resumed:
            job.resumed_count += 1
            job.resumed_at = now
            fields += ["resumed_count", "resumed_at"]
        job.save(update_fields=fields)
    retries_left = job.resumed_count < JOB_RETRY_ROUNDS
    with _Heartbeat(job.pk):
        settled, _retry = _job_slips(job, recount=resumed)
        todo = [i for i in job.slip_ids if i not in settled]
        abandoned = []
        if resumed:
            # The dead worker's claims are this job's own slips (nobody sends them) but the lease
            # protects them: send everything else first, then wait out the lease and take them over.
            # A new job does not wait: slips someone else is sending are theirs (正在回传中).
            abandoned = list(
                RawRefund.objects.filter(pk__in=todo, writeback_status=WritebackStatus.SENDING)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            todo = [i for i in todo if i not in set(abandoned)]
        by = job.created_by or job.created_by_name or "系统：批量回传"
        outage = False
        for start in range(0, len(todo), 50):
            chunk = todo[start : start + 50]
            refund_writeback(chunk, by=by, trigger=job.trigger, job=job)
            if retries_left and len(_job_slips(job, among=chunk)[1]) == len(chunk):
                # Not one slip of the chunk got through: JD or Redis is down. Sending the rest now
                # would only fail them all in seconds; the job keeps them for its next run.
                outage = True
                break
        if abandoned and not outage:
            _wait_for_abandoned_claims(abandoned)
            for start in range(0, len(abandoned), 50):
                refund_writeback(abandoned[start : start + 50], by=by, trigger=job.trigger, job=job)
    settled, retry = _job_slips(job, recount=True, keep=retries_left)
    if retry or outage:
        # Kept open: the sweep resumes it once the lease has passed since this beat.
        WritebackJob.objects.filter(pk=job.pk).update(
            status=WritebackJob.Status.INTERRUPTED, heartbeat_at=timezone.now()
        )
        logger.warning(
            "writeback job %s stopped with %d slips to retry and %d not sent yet (JD or Redis unavailable); "
            "the recovery sweep resumes it",
            job.pk,
            len(retry),
            job.total - len(settled) - len(retry),
        )
    else:
        WritebackJob.objects.filter(pk=job.pk).update(
            status=WritebackJob.Status.DONE, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


# How many times a job is resumed to try its slips again after retryable failures: each resumption
# comes about a lease (WRITEBACK_LEASE_SECONDS, 5 minutes) plus one sweep after the last run, so a
# job rides out an outage of about an hour before it gives its slips up (回传失败, the message then
# says what happens next: a rule's retry, or 请稍后重新回传).
JOB_RETRY_ROUNDS = 10


def _job_slips(job, *, among=None, recount=False, keep=True) -> tuple[set, set]:
    """(settled, to retry) among the job's slips, read from its attempts. A slip is to retry when
    its latest attempt in this job failed and it is still 回传失败 with a retry due (the service's
    word for a retryable failure); `keep=False` settles those too (the job gives up on them).
    `recount` writes the job's counters from the same reading, the slips to retry not done."""
    attempts = WritebackAttempt.objects.filter(job=job)
    if among is not None:
        attempts = attempts.filter(slip_id__in=among)
    latest = dict(attempts.order_by("id").values_list("slip_id", "outcome"))
    failed = [slip_id for slip_id, outcome in latest.items() if outcome == WritebackOutcome.FAILED]
    retry = set()
    if keep and failed:
        retry = set(
            RawRefund.objects.filter(
                pk__in=failed, writeback_status=WritebackStatus.FAILED, next_attempt_at__isnull=False
            ).values_list("pk", flat=True)
        )
    settled = set(latest) - retry
    if recount:
        outcomes = [latest[slip_id] for slip_id in settled]
        WritebackJob.objects.filter(pk=job.pk).update(
            done=len(outcomes),
            succeeded=outcomes.count(WritebackOutcome.SUCCEEDED),
            failed=sum(o in (WritebackOutcome.FAILED, WritebackOutcome.REFUSED) for o in outcomes),
        )
    return settled, retry


# A running job's worker beats every HEARTBEAT; a job that missed three beats lost its worker.
HEARTBEAT = timedelta(seconds=10)
JOB_DEAD_AFTER = 3 * HEARTBEAT


def job_is_dead(job, now) -> bool:
    return job.heartbeat_at is None or job.heartbeat_at + JOB_DEAD_AFTER <= now


class _Heartbeat:
    """Beats for a running job from a thread, whatever the job is doing (waiting out a lease, a slow
    JD): liveness must not depend on how long one chunk takes."""

    def __init__(self, job_id):
        self.job_id = job_id
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"writeback-job-{job_id}-heartbeat", daemon=True
        )

    def _run(self):
        try:
            while not self.stop.wait(HEARTBEAT.total_seconds()):
                WritebackJob.objects.filter(pk=self.job_id).update(heartbeat_at=timezone.now())
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _wait_for_abandoned_claims(slip_ids):
    """A resumed job (its worker died) finds the slips that worker claimed still 回传中: nobody is
    sending them, but the lease protects them. Wait it out, then the service takes them over."""
    last_claim = (
        RawRefund.objects.filter(pk__in=slip_ids, writeback_status=WritebackStatus.SENDING)
        .order_by("-writeback_claimed_at")
        .values_list("writeback_claimed_at", flat=True)
        .first()
    )
    if last_claim is not None:
        delay = (last_claim + WRITEBACK_LEASE - timezone.now()).total_seconds()
        if delay > 0:
            time.sleep(delay + 1)


# --- recovery: nothing stays 回传中 because a process died -----------------------------------------
RECOVERY_ACTOR = "系统：回传恢复"


@dataclass(frozen=True)
class Recovery:
    jobs_resumed: list
    slips_released: list
    slips_rechecked: list = ()  # 结果未知 slips read again from JD (settled, refused or resent once)


# 结果未知 slips the sweep reads again per run (the rest wait for the next minute).
RECHECK_BATCH = 200


def writeback_recover(now=None) -> Recovery:
    """The periodic sweep (every minute). Jobs whose worker died (three missed heartbeats), jobs
    that stopped at an outage (已中断, with slips to retry) once the lease has passed since, and jobs
    queued for longer than the lease whose message may be lost, are queued again (a running one is
    marked 已中断 first): the resumed run sends what is left, once; a duplicate message is a no-op.
    Slips left 回传中 past the lease outside any unfinished job become 结果未知 (the process may have
    sent them). 结果未知 slips whose recheck is due are read again from JD through the writeback verb,
    whatever the shop's rule: JD refunded → 回传成功 with nothing sent; JD's state forbids it →
    refused; else resent once. After a second unknown outcome they are only read, never sent."""
    now = now or timezone.now()
    dead_beat = now - JOB_DEAD_AFTER
    long_ago = now - WRITEBACK_LEASE
    resumed = []
    with transaction.atomic():
        jobs = WritebackJob.objects.select_for_update(skip_locked=True).filter(
            Q(status=WritebackJob.Status.RUNNING, heartbeat_at__lte=dead_beat)
            | Q(status=WritebackJob.Status.RUNNING, heartbeat_at__isnull=True)
            | Q(status=WritebackJob.Status.QUEUED, created_at__lte=long_ago, heartbeat_at__isnull=True)
            | Q(status=WritebackJob.Status.QUEUED, heartbeat_at__lte=long_ago)
            | Q(status=WritebackJob.Status.INTERRUPTED, heartbeat_at__lte=long_ago)
        )
        for job in jobs.order_by("pk"):
            if job.status == WritebackJob.Status.RUNNING:
                job.status = WritebackJob.Status.INTERRUPTED
            # The beat moves so the next sweeps give this resume a lease's time to start.
            job.heartbeat_at = now
            job.save(update_fields=["status", "heartbeat_at"])
            resumed.append(job.pk)
            current_app.tasks[WRITEBACK_JOB_TASK].delay_on_commit(job.pk)
    open_jobs = WritebackJob.objects.exclude(status=WritebackJob.Status.DONE).values_list(
        "slip_ids", flat=True
    )
    in_jobs = {slip_id for ids in open_jobs for slip_id in ids}
    released = []
    with transaction.atomic(), batched_events():
        stale = lock_raw_refunds(
            RawRefund.objects.filter(
                writeback_status=WritebackStatus.SENDING, writeback_claimed_at__lte=now - WRITEBACK_LEASE
            ),
            skip_locked=True,
        )
        changed = []
        for slip in stale:
            if slip.pk in in_jobs:
                continue
            # Due at once (the lease was the wait): the recheck below reads JD for it in this sweep.
            slip.release_stale_claim(by=RECOVERY_ACTOR, reason=STALE_CLAIM, next_attempt_at=now)
            slip.updated_at = now
            changed.append(slip)
        update_rows(RawRefund, changed, RECORD_FIELDS)
        released = [slip.pk for slip in changed]
    due = list(
        RawRefund.objects.filter(writeback_status=WritebackStatus.UNKNOWN, next_attempt_at__lte=now)
        .exclude(pk__in=in_jobs)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:RECHECK_BATCH]
    )
    if due:
        refund_writeback(due, by=RECOVERY_ACTOR, trigger=WritebackTrigger.AUTO)
    if resumed or released or due:
        logger.warning(
            "writeback recovery: resumed jobs %s, released %d slips, rechecked %d unknown outcomes",
            resumed,
            len(released),
            len(due),
        )
    return Recovery(resumed, released, due)
