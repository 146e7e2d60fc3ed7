"""Rehearsal of a worker killed mid-job (PostgreSQL + Redis + a real Celery worker and beat).

Run: `.venv/bin/python bench/kill_worker.py [--slips 400] [--lease 30] [--latency-ms 100]`.
The claim under test: after `kill -9` of the worker in the middle of a background writeback job, every
slip ends 回传成功 or 回传失败 within the lease + 1 minute, and no slip is sent twice by us unless JD's
answer to the first send was lost (the killed worker had claimed it and recorded no outcome).

1. N eligible slips (退款 + 申请退款, order 待客审) in the emptied bench database, known to a sandbox
   subprocess answering every JOS call `--latency-ms` late; Redis db 11 flushed.
2. A Celery worker (prefork, 2 children) and beat (DatabaseScheduler: the recovery sweep every minute,
   as in production; the platform sync task is disabled so only the writeback talks to the sandbox),
   both with a short lease (WRITEBACK_LEASE_SECONDS=--lease) so the run takes minutes.
3. The job is queued as the web queues it (`writeback_job_start` in a transaction); once it has handled
   `--kill-after` slips (default N/4) and JD has answered at least 8 slips whose outcome is not written
   yet, the worker's process group (main process and pool children) gets SIGKILL and a fresh worker
   starts at once, as a supervisor would restart it. `--kill-before-sweep S` starts the job right
   after a sweep and kills S seconds before the next one (19: the sweep just misses the dead job).
4. Until every slip is final (timeout lease + 3 min): when the sweep resumed the job, when the last
   slip became final; then each refId's writeback calls in the sandbox's call log. A refId sent twice
   is explained only if the dead worker had claimed it with no recorded outcome, its call reached JD
   before the kill, and the resumed job sent it once more.
Bench database: $BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/erp_bench_kill (emptied).
"""

import argparse
import os
import re
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from common import Stack, setup_django

REDIS_URL = "redis://127.0.0.1:6379/11"
KEY, SECRET, TOKEN = "KILLKEY", "kill-secret", "kill-token"

parser = argparse.ArgumentParser()
parser.add_argument("--slips", type=int, default=400)
parser.add_argument("--lease", type=int, default=30, help="WRITEBACK_LEASE_SECONDS for every process")
parser.add_argument("--latency-ms", type=int, default=100)
parser.add_argument(
    "--rate-limit", type=int, default=20, help="JOS_RATE_LIMIT_PER_SECOND (production default)"
)
parser.add_argument(
    "--kill-after", type=int, default=None, help="slips handled before the kill (default N/4)"
)
parser.add_argument(
    "--kill-before-sweep",
    type=float,
    default=None,
    help="kill this many seconds before beat's next sweep (default: whenever --kill-after is reached)",
)
args = parser.parse_args()

setup_django(
    "erp_bench_kill",
    REDIS_URL=REDIS_URL,
    WRITEBACK_LEASE_SECONDS=str(args.lease),
    JOS_RATE_LIMIT_PER_SECOND=str(args.rate_limit),
)
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402

from orders.models import Order, OrderLine, OrderStatus, Shop  # noqa: E402
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus  # noqa: E402
from sa_sync.models import WritebackAttempt, WritebackJob  # noqa: E402
from sa_sync.schedules import PLATFORM_SYNC_TASK_NAME, RECOVERY_TASK_NAME  # noqa: E402
from sa_sync.writeback import writeback_job_start  # noqa: E402
from sandbox.testing import start_sandbox  # noqa: E402

FINAL = [WritebackStatus.SUCCEEDED, WritebackStatus.FAILED]
TICK_LINE = re.compile(
    r"\[([-\d: ,]+): INFO/MainProcess\] Scheduler: Sending due task .*sa_sync\.writeback_recover"
)
SWEEP_LINE = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+): WARNING/[^\]]*\] writeback recovery: resumed jobs"
)


def make_slips(shop, count):
    orders = Order.objects.bulk_create(
        [
            Order(shop=shop, tid=str(880_000_000_000 + n), status=OrderStatus.AWAITING_CS_REVIEW)
            for n in range(count)
        ]
    )
    lines = OrderLine.objects.bulk_create(
        [OrderLine(order=o, shop=shop, oid=f"{o.tid}-1", goods_name="纯棉短袖T恤", num=1) for o in orders]
    )
    return RawRefund.objects.bulk_create(
        [
            RawRefund(
                shop=shop,
                refund_no=str(9_300_000_000 + n),
                tid=o.tid,
                oid=line.oid,
                order=o,
                order_line=line,
                refund_type=RefundType.REFUND,
                platform_status=PlatformStatus.APPLIED,
            )
            for n, (o, line) in enumerate(zip(orders, lines, strict=True))
        ]
    )


def beat_ticks(log):
    """When beat sent the recovery sweep, from its log (celery's time zone)."""
    return [
        datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(
            tzinfo=ZoneInfo(settings.CELERY_TIMEZONE)
        )
        for found in map(TICK_LINE.match, log.read_text(errors="replace").splitlines())
        if found
    ]


def sweep_time(log, job_id):
    """When the sweep queued the job again: its warning in the fresh worker's log (celery's time zone)."""
    for line in log.read_text(errors="replace").splitlines():
        found = SWEEP_LINE.match(line)
        if found and f"resumed jobs [{job_id}" in line:
            stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
            return stamp.replace(tzinfo=ZoneInfo(settings.CELERY_TIMEZONE))
    return None


def wait_for(what, condition, timeout, stack):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for name, process in stack.processes.items():
            if process.poll() is not None and name != "worker-1":
                sys.exit(f"{name} exited ({process.returncode}); log: {stack.logs / name}.log")
        time.sleep(0.25)
    sys.exit(f"timed out after {timeout:.0f} s waiting for {what}; logs in {stack.logs}")


def prepare():
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE refunds_writebackattempt, refunds_writebackjob, refunds_rawrefund, orders_orderline, "
            "orders_order, erp_aftersales_event RESTART IDENTITY CASCADE"
        )
    # Only the writeback talks to the sandbox; the sweep runs every minute from beat's first tick.
    PeriodicTask.objects.filter(name=PLATFORM_SYNC_TASK_NAME).update(enabled=False)
    PeriodicTask.objects.filter(name=RECOVERY_TASK_NAME).update(enabled=True, last_run_at=None)
    redis.Redis.from_url(REDIS_URL).flushdb()
    shop, _ = Shop.objects.update_or_create(
        shop_no="BENCH-KILL",
        defaults={
            "name": "压测店铺（进程中断）",
            "app_key": KEY,
            "app_secret": SECRET,
            "access_token": TOKEN,
            "sa_writeback_enabled": True,
            "credential_error": "",
        },
    )
    user, _ = get_user_model().objects.get_or_create(username="bench_kill_cs", defaults={"is_staff": True})
    return shop, user, make_slips(shop, args.slips)


def main():
    shop, user, slips = prepare()
    ids = [s.pk for s in slips]
    ref_of = {s.pk: s.refund_no for s in slips}
    kill_after = args.kill_after or args.slips // 4
    deadline = args.lease + 60
    load_before = os.getloadavg()

    sandbox = start_sandbox()
    stack = None
    try:
        sandbox.seed_shop(
            app_key=KEY, app_secret=SECRET, access_token=TOKEN, shop_no="BENCH-KILL", name=shop.name
        )
        applications = [
            {"id": int(s.refund_no), "orderId": int(s.tid), "status": 0, "skuId": "1"} for s in slips
        ]
        for i in range(0, len(applications), 2000):
            sandbox.seed_refunds(KEY, applications[i : i + 2000])
        sandbox.set_faults(app_key=KEY, latency_ms=args.latency_ms)
        settings.JOS_ENDPOINT = sandbox.jos_url

        env = {
            **os.environ,
            "JOS_ENDPOINT": sandbox.jos_url,
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        stack = Stack(env)
        stack.worker("worker-1")
        stack.start(
            "beat", "beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--loglevel", "INFO"
        )

        if args.kill_before_sweep is not None:
            # The kill's phase against the sweep is chosen: start the job right after a tick.
            wait_for("beat's first sweep", lambda: beat_ticks(stack.logs / "beat.log"), 120, stack)
        # As the web does it: the job row and, once it is committed, its task.
        with transaction.atomic():
            job = writeback_job_start(ids, by=user)
        queued_at = time.time()
        wait_for(
            f"the job to handle {kill_after} slips",
            lambda: WritebackJob.objects.filter(pk=job.pk, done__gte=kill_after).exists(),
            120,
            stack,
        )

        if args.kill_before_sweep is not None:
            every = PeriodicTask.objects.get(name=RECOVERY_TASK_NAME).interval.every

            def next_sweep_close():
                next_tick = beat_ticks(stack.logs / "beat.log")[-1] + timedelta(seconds=every)
                return (next_tick - timezone.now()).total_seconds() <= args.kill_before_sweep

            wait_for("the chosen moment before the next sweep", next_sweep_close, every + 5, stack)

        def answers_unrecorded():
            # Kill mid-batch, while JD has answered slips whose outcome is not written yet.
            done = WritebackJob.objects.filter(pk=job.pk).values_list("done", flat=True).get()
            return len(sandbox.calls(method=settings.JOS_WRITEBACK_METHOD, app_key=KEY)) >= done + 8

        wait_for("answers not yet recorded", answers_unrecorded, 60, stack)
        stack.kill("worker-1")
        killed_at = timezone.now()
        queued_for = time.time() - queued_at
        time.sleep(0.5)  # PostgreSQL rolls back the dead connections' open transactions
        job.refresh_from_db()
        done_at_kill = job.done
        sending_at_kill = set(
            RawRefund.objects.filter(pk__in=ids, writeback_status=WritebackStatus.SENDING).values_list(
                "pk", flat=True
            )
        )
        attempted_at_kill = set(WritebackAttempt.objects.filter(job=job).values_list("slip_id", flat=True))
        lost = sending_at_kill - attempted_at_kill  # claimed by the dead worker, no outcome recorded
        calls_at_kill = len(sandbox.calls(method=settings.JOS_WRITEBACK_METHOD, app_key=KEY))
        stack.worker("worker-2")

        def all_final():
            return RawRefund.objects.filter(pk__in=ids, writeback_status__in=FINAL).count() == len(ids)

        wait_for("every slip to be final", all_final, args.lease + 180, stack)
        polled_final_at = timezone.now()
        wait_for(
            "the job to finish",
            lambda: WritebackJob.objects.filter(pk=job.pk, status=WritebackJob.Status.DONE).exists(),
            60,
            stack,
        )
        job.refresh_from_db()
        load_after = os.getloadavg()
        swept_at = sweep_time(stack.logs / "worker-2.log", job.pk)
        ticks = [t for t in beat_ticks(stack.logs / "beat.log") if t > killed_at - timedelta(seconds=60)]

        last_final = RawRefund.objects.filter(pk__in=ids).aggregate(m=Max("updated_at"))["m"]
        last_lost_final = RawRefund.objects.filter(pk__in=lost).aggregate(m=Max("updated_at"))["m"]
        statuses = Counter(
            WritebackStatus(s).label
            for s in RawRefund.objects.filter(pk__in=ids).values_list("writeback_status", flat=True)
        )
        calls = sandbox.calls(method=settings.JOS_WRITEBACK_METHOD, app_key=KEY)
        per_ref = Counter(str(c["params"]["refId"]) for c in calls)
        lost_refs = {ref_of[i] for i in lost}
        duplicates = {ref: n for ref, n in per_ref.items() if n > 1}
        # Explained: its answer was lost (claimed by the dead worker, no outcome recorded), the dead
        # worker's call reached JD before the kill, and the resumed job sent it exactly once more.
        before_kill = Counter(
            str(c["params"]["refId"]) for c in sorted(calls, key=lambda c: c["seq"])[:calls_at_kill]
        )
        unexplained = sorted(
            ref
            for ref, n in duplicates.items()
            if not (ref in lost_refs and before_kill[ref] == 1 and n == 2)
        )
        never_sent = [ref_of[i] for i in ids if ref_of[i] not in per_ref]
    finally:
        if stack is not None:
            stack.stop_all()
        sandbox.stop()

    def since_kill(moment):
        return f"{(moment - killed_at).total_seconds():6.1f} s" if moment else "     —"

    print(
        f"slips:                     {args.slips}, JD latency {args.latency_ms} ms, rate limit {args.rate_limit}/s"
    )
    print(
        f"lease:                     {args.lease} s (goal: final within lease + 60 s = {deadline} s of the kill)"
    )
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} ({os.cpu_count()} cores)")
    print(f"kill -9 of the worker:     {killed_at:%H:%M:%S}, {queued_for:.0f} s after the job was queued")
    print(
        f"  job at the kill:         {done_at_kill}/{args.slips} handled, {len(sending_at_kill)} slips 回传中"
    )
    print(f"  answers lost:            {len(lost)} slips claimed with no recorded outcome")
    print(f"  calls JD had by then:    {calls_at_kill}")
    print(f"sweep resumed it (已中断): {since_kill(swept_at)} after the kill")
    print(
        f"sweeps sent by beat:       {', '.join(since_kill(t).strip() for t in ticks)} (relative to the kill)"
    )
    print(f"job resumed:               {since_kill(job.resumed_at)} after the kill")
    print(f"last lost slip final:      {since_kill(last_lost_final)} after the kill")
    print(
        f"last slip final:           {since_kill(last_final)} after the kill (poll saw it at {since_kill(polled_final_at)})"
    )
    verdict = "within" if (last_final - killed_at).total_seconds() <= deadline else "OVER"
    print(f"  against lease + 60 s:    {verdict} ({deadline} s)")
    print(f"final statuses:            {dict(statuses)}")
    print(
        f"job:                       {job.get_status_display()} ({job.status}), resumed_count {job.resumed_count}, "
        f"done {job.done}/{job.total}, succeeded {job.succeeded}, failed {job.failed}"
    )
    print(f"writeback calls JD got:    {len(calls)} for {len(per_ref)} refIds; never sent: {len(never_sent)}")
    print(
        f"refIds sent more than once: {len(duplicates)} (max {max(duplicates.values(), default=1)} times); "
        f"answer lost at the kill: {len(duplicates) - len(unexplained)}; without a lost answer: {len(unexplained)}"
        + (f" {unexplained[:10]}" if unexplained else "")
    )
    print(f"lost answers not sent twice (claimed, not yet sent): {len(lost_refs - set(duplicates))}")
    print(f"worker/beat logs:          {stack.logs if stack else '—'}")


if __name__ == "__main__":
    main()
