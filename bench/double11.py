"""Rehearsal of the busiest day: many shops downloading and writing back at once, across workers.

Run: `.venv/bin/python bench/double11.py [--shops 200] [--apps 500] [--workers 1,2,4]
[--interval-minutes 5] [--duration 600] [--latency-ms 50] [--rate-limit 20]`.

For each worker count N, in the production shape on this machine:
1. The bench database ($BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/erp_bench_d11)
   is emptied; Redis db 10 ($D11_REDIS_URL) flushed: the broker and the shared JOS rate limiter.
2. One sandbox subprocess holds, per shop, `--apps` refund applications (half 退款, half 退货, all
   JD state 0 = awaiting review) and their orders (等待出库, two lines each), answers every JOS call
   `--latency-ms` late and refuses (code 2) a shop's calls beyond `--rate-limit` in one second, as JD
   does per app.
3. Every shop has its auto-writeback rule switched on at `--interval-minutes` (default 5, the
   product's default; batch 50), saved as ops save it, so beat gets one entry per shop. The platform
   sync runs from beat every PLATFORM_SYNC_INTERVAL_SECONDS (60), its first tick at once.
4. One beat (DatabaseScheduler) and one Celery worker with N prefork processes (`-c N`, no -Q: it
   takes every queue), JOS_RATE_LIMIT_PER_SECOND=`--rate-limit` per shop, for `--duration` seconds.
   Meanwhile pg_stat_activity is sampled every second (what the database is busy with) and the
   worker's processes' memory every 5 s.
5. Reported: slips downloaded per second (first full download of every shop), slips written back
   per second, each rule run's wait from beat's due time to its start (and runs that expired), each
   scheduled download's wait from its tick, the statements most often running and, when the server
   loads pg_stat_statements, the busiest by total time, table/index activity, memory per process,
   CPU per part of the stack (worker, beat, sandbox, PostgreSQL), and what failed (failed runs, JD's
   code 2 answers, errors in the worker's log).
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from common import ROOT, setup_django

parser = argparse.ArgumentParser()
parser.add_argument("--shops", type=int, default=200)
parser.add_argument("--apps", type=int, default=500, help="refund applications per shop")
parser.add_argument("--workers", default="1,2,4", help="worker process counts to rehearse, in turn")
parser.add_argument("--interval-minutes", type=int, default=5, help="every shop's auto-writeback interval")
parser.add_argument("--duration", type=int, default=600, help="seconds per worker count")
parser.add_argument("--latency-ms", type=int, default=50)
parser.add_argument("--rate-limit", type=int, default=20, help="JD's calls per second per shop (and ours)")
args = parser.parse_args()

REDIS_URL = os.environ.get("D11_REDIS_URL", "redis://127.0.0.1:6379/10")
setup_django(
    "erp_bench_d11",
    REDIS_URL=REDIS_URL,
    JOS_RATE_LIMIT_PER_SECOND=str(args.rate_limit),
)
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Max, Min, Sum  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402

from orders.models import Shop  # noqa: E402
from platforms.jd.signing import SHANGHAI, jd_timestamp  # noqa: E402
from refunds.models import RawRefund, WritebackStatus  # noqa: E402
from sa_sync.auto_writeback import TASK_NAME, auto_writeback_rule_save  # noqa: E402
from sa_sync.models import AutoWritebackRun, SyncKind, SyncRun, SyncRunStatus  # noqa: E402
from sa_sync.schedules import PLATFORM_SYNC_TASK_NAME, RECOVERY_TASK_NAME  # noqa: E402
from sandbox.testing import start_sandbox  # noqa: E402

CELERY = str(ROOT / ".venv" / "bin" / "celery")
TZ = ZoneInfo(settings.CELERY_TIMEZONE)
SEND_LINE = re.compile(r"\[([-\d: ,]+): INFO/MainProcess\] Scheduler: Sending due task (.+?) \(([\w.]+)\)")
DB_NAME = connection.settings_dict["NAME"]


def shop_no(n):
    return f"D11-{n:03d}"


def prepare():
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        # Every shop-owned row goes with its shop (slips, orders, runs, rules, cursors, events' rows).
        cur.execute(
            "TRUNCATE orders_shop, erp_aftersales_event, refunds_writebackattempt, refunds_writebackjob "
            "RESTART IDENTITY CASCADE"
        )
        cur.execute("SELECT pg_stat_reset()")
    statements_reset()
    PeriodicTask.objects.filter(task=TASK_NAME).delete()
    # The first download tick at once, then every interval; the sweep as deployed.
    PeriodicTask.objects.filter(name=PLATFORM_SYNC_TASK_NAME).update(
        enabled=True, last_run_at=timezone.now() - timedelta(seconds=settings.PLATFORM_SYNC_INTERVAL_SECONDS)
    )
    PeriodicTask.objects.filter(name=RECOVERY_TASK_NAME).update(enabled=True, last_run_at=None)
    redis.Redis.from_url(REDIS_URL).flushdb()
    shops = Shop.objects.bulk_create(
        [
            Shop(
                shop_no=shop_no(n),
                name=f"双十一店铺{n:03d}",
                app_key=f"D11KEY{n:03d}",
                app_secret=f"d11-secret-{n:03d}",
                access_token=f"d11-token-{n:03d}",
                sa_writeback_enabled=True,
            )
            for n in range(args.shops)
        ]
    )
    for shop in shops:
        auto_writeback_rule_save(
            shop, {"enabled": True, "interval_minutes": args.interval_minutes}, by="压测"
        )
    return shops


def seed_sandbox(sandbox, shops):
    sandbox.reset()
    now = datetime.now(tz=SHANGHAI)
    reasons = ["不想要了", "拍错/多拍", "商品质量问题", "7天无理由退货"]
    for s, shop in enumerate(shops):
        sandbox.seed_shop(
            app_key=shop.app_key,
            app_secret=shop.app_secret,
            access_token=shop.access_token,
            shop_no=shop.shop_no,
            name=shop.name,
        )
        base_order = 800_000_000_000 + s * 1_000_000
        orders = [
            {
                "orderId": str(base_order + n),
                "orderState": "WAIT_SELLER_STOCK_OUT",
                "orderStartTime": jd_timestamp(now - timedelta(hours=2, minutes=n * 0.01)),
                "itemInfoList": [
                    {"skuId": "100000000000", "jdPrice": "99.00", "itemTotal": 1},
                    {"skuId": "100000000001", "jdPrice": "99.00", "itemTotal": 1},
                ],
            }
            for n in range(-(-args.apps // 2))
        ]
        apps = [
            {
                "id": 9_000_000_000 + s * 1_000_000 + n,
                "orderId": base_order + n // 2,
                "skuId": str(100_000_000_000 + n % 2),
                "applyTime": jd_timestamp(now - timedelta(minutes=90 - n * 0.01)),
                "applyRefundSum": 9900,
                "status": 0,
                "num": 1,
                "reason": reasons[n % 4],
                "buyerName": f"买家{n}",
            }
            for n in range(args.apps)
        ]
        for i in range(0, len(orders), 2500):
            sandbox.seed_orders(shop.app_key, orders[i : i + 2500])
        for i in range(0, len(apps), 5000):
            sandbox.seed_refunds(shop.app_key, apps[i : i + 5000])
    sandbox.set_faults(latency_ms=args.latency_ms, call_limit_per_second=args.rate_limit)
    sandbox.clear_calls()


class Stack:
    def __init__(self, env, logs):
        self.env, self.logs, self.processes = env, logs, {}

    def start(self, name, *command, env=None):
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (kept open by the child)
        self.processes[name] = subprocess.Popen(
            [CELERY, "-A", "erp_aftersales", *command],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def group_rss_mib(pgid):
    """RSS of every process in the group (the worker's main process and its pool children)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pgid:
                continue
            rss_pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found[int(entry.name)] = rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return found


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu():
    """{pid: (name, process group, CPU seconds so far)} of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (name, int(fields[2]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


class CpuShare:
    """CPU seconds used by each part of the stack between the first and the last sample: the
    worker's processes, beat, the sandbox (JD's side) and PostgreSQL's backends. Sampled every few
    seconds; a process that ended between two samples loses its last few seconds (the database
    connections live for DB_CONN_MAX_AGE, so backends rarely do)."""

    def __init__(self, groups):
        self.groups = groups  # {part: predicate(pid, name, pgid)}
        self.first, self.last, self.sampled = {}, {}, False

    def sample(self):
        for pid, (name, pgid, seconds) in process_cpu().items():
            part = next((p for p, wanted in self.groups.items() if wanted(pid, name, pgid)), None)
            if part is None:
                continue
            # A process born after the first sample counts from zero.
            self.first.setdefault(pid, (part, seconds if not self.sampled else 0.0))
            self.last[pid] = (part, seconds)
        self.sampled = True

    def seconds(self):
        used = Counter()
        for pid, (part, seconds) in self.last.items():
            used[part] += seconds - self.first[pid][1]
        return used


def statements_reset():
    """pg_stat_statements, when the server loads it (shared_preload_libraries): the busiest
    statements by total time. Otherwise the report falls back to sampling pg_stat_activity."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'shared_preload_libraries' AND setting LIKE %s",
            ["%pg_stat_statements%"],
        )
        if not cur.fetchone():
            return False
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        cur.execute("SELECT pg_stat_statements_reset()")
        return True


def normalised(query):
    query = re.sub(r"\s+", " ", query)
    query = re.sub(r"'[^']*'", "?", query)
    query = re.sub(r"\b\d+\b", "N", query)
    query = re.sub(r"(\?|N)(, (\?|N))+", r"\1…", query)
    return query[:150]


def beat_sends(log):
    """(time, entry name, task) of every due task beat sent, from its log (celery's time zone)."""
    sends = []
    for line in log.read_text(errors="replace").splitlines():
        found = SEND_LINE.search(line)
        if found:
            at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=TZ)
            sends.append((at, found.group(2), found.group(3)))
    return sends


def rehearse(workers, sandbox):
    shops = prepare()
    seed_sandbox(sandbox, shops)
    logs = Path(tempfile.mkdtemp(prefix=f"double11-{workers}w-"))
    env = {
        **os.environ,
        "JOS_ENDPOINT": sandbox.jos_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    stack = Stack(env, logs)
    load_before = os.getloadavg()
    started = timezone.now()
    stack.start(
        "worker", "worker", "--pool", "prefork", "-c", str(workers), "-n", "d11@%h", "--loglevel", "WARNING"
    )
    stack.start(
        "beat",
        "beat",
        "-S",
        "django_celery_beat.schedulers:DatabaseScheduler",
        "--loglevel",
        "INFO",
        "--pidfile",
        str(logs / "beat.pid"),
    )
    activity, memory, loads = Counter(), defaultdict(list), []
    worker_group, beat_group = stack.processes["worker"].pid, stack.processes["beat"].pid
    sandbox_pid = sandbox.process.pid
    cpu = CpuShare(
        {
            "worker": lambda pid, name, pgid: pgid == worker_group,
            "beat": lambda pid, name, pgid: pgid == beat_group,
            "sandbox": lambda pid, name, pgid: pid == sandbox_pid,
            "postgres": lambda pid, name, pgid: name == "postgres",
        }
    )
    cpu.sample()
    sandbox_rss = []
    samples = 0
    full = args.shops * args.apps
    downloaded_at = None
    t0 = time.monotonic()
    try:
        with connection.cursor() as cur:
            while time.monotonic() - t0 < args.duration:
                for name, process in stack.processes.items():
                    if process.poll() is not None:
                        sys.exit(f"{name} exited ({process.returncode}); log: {logs / name}.log")
                cur.execute(
                    "SELECT query FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                    "AND pid <> pg_backend_pid()",
                    [DB_NAME],
                )
                samples += 1
                for (query,) in cur.fetchall():
                    activity[normalised(query)] += 1
                tick = int(time.monotonic() - t0)
                if tick % 5 == 0 and tick not in memory:
                    memory[tick] = group_rss_mib(stack.processes["worker"].pid)
                    sandbox_rss.append(group_rss_mib(os.getpgid(sandbox_pid)).get(sandbox_pid, 0))
                    loads.append(os.getloadavg()[0])
                    cpu.sample()
                    if downloaded_at is None and RawRefund.objects.count() >= full:
                        downloaded_at = time.monotonic() - t0
                time.sleep(1)
    finally:
        # What the logs said while running; the stop itself (SIGTERM to the pool) logs lost tasks.
        running_logs = {
            name: (logs / f"{name}.log").read_text(errors="replace") for name in ("worker", "beat")
        }
        cpu.sample()
        stack.stop_all()
    ended = timezone.now()
    report(
        workers,
        shops,
        logs,
        sandbox,
        Measured(
            started=started,
            ended=ended,
            elapsed=time.monotonic() - t0,
            activity=activity,
            samples=samples,
            memory=memory,
            loads=loads,
            load_before=load_before,
            running_logs=running_logs,
            cpu_seconds=cpu.seconds(),
            sandbox_rss=max(sandbox_rss, default=0),
        ),
    )


@dataclass
class Measured:
    """What one worker count's run sampled, for the report."""

    started: datetime
    ended: datetime
    elapsed: float
    activity: Counter
    samples: int
    memory: dict
    loads: list
    load_before: tuple
    running_logs: dict
    cpu_seconds: Counter
    sandbox_rss: float


def report(workers, shops, logs, sandbox, measured: Measured):
    m = measured
    started, ended, activity, samples, memory = m.started, m.ended, m.activity, m.samples, m.memory
    loads, load_before, running_logs = m.loads, m.load_before, m.running_logs
    cpu_seconds, elapsed, sandbox_rss = m.cpu_seconds, m.elapsed, m.sandbox_rss
    interval = timedelta(minutes=args.interval_minutes)
    print(
        f"\n=== {workers} worker process(es): {args.shops} shops × {args.apps} applications, "
        f"rule every {args.interval_minutes} min, JOS latency {args.latency_ms} ms, "
        f"{args.rate_limit} calls/s per shop, {args.duration} s ==="
    )
    print(
        f"load average before {load_before[0]:.2f}; during: median {statistics.median(loads):.2f}, "
        f"max {max(loads):.2f}  (logs: {logs})"
    )

    # Downloads: every shop's first full download of its refunds.
    refund_runs = SyncRun.objects.filter(kind=SyncKind.REFUNDS, rows_new__gt=0)
    agg = refund_runs.aggregate(rows=Sum("rows_new"), first=Min("started_at"), last=Max("finished_at"))
    slips = RawRefund.objects.count()
    full = args.shops * args.apps
    if agg["rows"]:
        span = (agg["last"] - agg["first"]).total_seconds()
        print(
            f"download: {slips:,}/{full:,} slips in; {agg['rows']:,} new rows in {span:.1f} s "
            f"= {agg['rows'] / span:,.0f} slips/s (first start → last finish of the runs that brought rows)"
        )
    else:
        print(f"download: {slips:,}/{full:,} slips in, no run brought rows")
    failed_syncs = SyncRun.objects.filter(status=SyncRunStatus.FAILED)
    print(
        f"download runs: {SyncRun.objects.count()} ({failed_syncs.count()} failed: "
        f"{dict(Counter(failed_syncs.values_list('error_code', flat=True)))})"
    )

    sends = beat_sends(logs / "beat.log")
    runs_by_shop = defaultdict(list)
    for shop_id, kind, at in SyncRun.objects.values_list("shop_id", "kind", "started_at"):
        runs_by_shop[(shop_id, kind)].append(at)
    firsts = sorted(min(times) for times in runs_by_shop.values())
    never = args.shops * len(SyncKind.values) - len(runs_by_shop)
    if firsts:
        print(
            f"first download of each shop and kind: the last began {(firsts[-1] - started).total_seconds():.0f} s "
            f"after the start; shop×kind never downloaded: {never}"
        )
    gaps = [
        (b - a).total_seconds()
        for times in runs_by_shop.values()
        for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    if gaps:
        print(
            f"gap between a shop's consecutive downloads: median {statistics.median(gaps):.0f} s, "
            f"p95 {quantile(gaps, 0.95):.0f} s, max {max(gaps):.0f} s (tick every "
            f"{settings.PLATFORM_SYNC_INTERVAL_SECONDS} s)"
        )
    print(
        f"downloads per shop and kind: min {min(map(len, runs_by_shop.values()), default=0)}, "
        f"max {max(map(len, runs_by_shop.values()), default=0)}"
    )

    # Writebacks: slips JD answered, per second, from the first send to the last.
    done = RawRefund.objects.filter(writeback_status__in=[WritebackStatus.SUCCEEDED, WritebackStatus.FAILED])
    wb = done.aggregate(n=Count("id"), first=Min("last_writeback_at"), last=Max("last_writeback_at"))
    statuses = dict(Counter(RawRefund.objects.values_list("writeback_status", flat=True)))
    if wb["n"]:
        span = max((wb["last"] - wb["first"]).total_seconds(), 1)
        offered = args.shops * 50 / (args.interval_minutes * 60)
        print(
            f"writeback: {wb['n']:,} slips answered in {span:.0f} s = {wb['n'] / span:.1f} slips/s "
            f"(the rules offer {offered:.1f} slips/s: {args.shops} shops × 50 per {args.interval_minutes} min); "
            f"slips by writeback status {statuses}"
        )
    runs = AutoWritebackRun.objects.all()
    print(
        f"rule runs: {dict(Counter(runs.values_list('status', flat=True)))}; "
        f"sent {runs.aggregate(s=Sum('sent'))['s']}, failed {runs.aggregate(s=Sum('failed'))['s']}"
    )

    # Fairness: each due rule run, beat's send → the shop's run start.
    shop_of = {s.shop_no: s.pk for s in shops}
    starts = defaultdict(list)
    for shop_id, at in runs.values_list("shop_id", "started_at"):
        starts[shop_id].append(at)
    due = defaultdict(list)
    for at, name, task in sends:
        if task == TASK_NAME:
            due[shop_of[name.split("：", 1)[1]]].append(at)
    waits, expired, worst = [], 0, (0.0, None)
    for shop_id, times in due.items():
        times.sort()
        for at, following in zip(times, [*times[1:], None], strict=True):
            mine = [
                s
                for s in starts[shop_id]
                if s >= at - timedelta(seconds=1) and (following is None or s < following)
            ]
            if not mine:
                if following is not None or (ended - at) > interval:
                    expired += 1
                continue
            wait = max(0.0, (min(mine) - at).total_seconds())
            waits.append(wait)
            if wait > worst[0]:
                worst = (wait, shop_id)
    gaps = []
    for times in starts.values():
        times.sort()
        gaps += [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    if waits:
        print(
            f"rule runs due: {sum(map(len, due.values()))}; wait due → start: median {statistics.median(waits):.1f} s, "
            f"p95 {quantile(waits, 0.95):.1f} s, max {worst[0]:.1f} s (shop id {worst[1]}); "
            f"expired unstarted: {expired}; goal: max ≤ {interval.total_seconds():.0f} s"
        )
    if gaps:
        print(
            f"gap between a shop's consecutive runs: median {statistics.median(gaps):.0f} s, "
            f"max {max(gaps):.0f} s (interval {interval.total_seconds():.0f} s)"
        )
    per_shop = Counter(shop_id for shop_id, times in starts.items() for _ in times)
    if per_shop:
        print(
            f"runs per shop: min {min(per_shop.values())}, max {max(per_shop.values())}, "
            f"shops with none: {args.shops - len(per_shop)}"
        )

    # JD's word: calls and code-2 refusals, from the sandbox's call log.
    calls = sandbox.calls()
    codes = Counter(str(c.get("code")) for c in calls)
    print(f"JOS calls: {len(calls):,} ({dict(codes.most_common(5))})")

    print(
        f"memory (MiB RSS) of the worker's processes, at the end: "
        f"{sorted(round(v) for v in memory[max(memory)].values()) if memory else '-'}; "
        f"peak per process {max((v for m in memory.values() for v in m.values()), default=0):.0f}"
    )
    print(f"sandbox (JD's side) RSS, peak: {sandbox_rss:.0f} MiB")
    cores = os.cpu_count()
    print(
        f"CPU over {elapsed:.0f} s on {cores} cores ({elapsed * cores:.0f} CPU-s): "
        + ", ".join(
            f"{part} {seconds:.0f} s ({seconds / (elapsed * cores):.0%})"
            for part, seconds in cpu_seconds.most_common()
        )
    )
    print(f"statements most often running ({samples} samples of pg_stat_activity, 1/s; share of samples):")
    for query, hits in activity.most_common(8):
        print(f"  {hits / samples:6.1%}  {query}")
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cur.fetchone():
            cur.execute(
                "SELECT query, calls, total_exec_time, mean_exec_time, rows FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s) "
                "ORDER BY total_exec_time DESC LIMIT 10",
                [DB_NAME],
            )
            print("busiest statements by total time (pg_stat_statements: calls, total s, mean ms, rows):")
            for query, calls, total, mean, rows in cur.fetchall():
                print(f"  {calls:>8} {total / 1000:8.1f} s {mean:7.2f} ms {rows:>9}  {normalised(query)}")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname, seq_scan, idx_scan, n_tup_ins, n_tup_upd FROM pg_stat_user_tables "
            "ORDER BY n_tup_ins + n_tup_upd DESC LIMIT 6"
        )
        print("tables (seq scans, index scans, rows inserted, updated):")
        for row in cur.fetchall():
            print(f"  {row[0]:<32} {row[1]:>8} {row[2] or 0:>10} {row[3]:>9} {row[4]:>9}")
    errors = [
        line
        for text in running_logs.values()
        for line in text.splitlines()
        if "ERROR" in line or "Traceback" in line or "CRITICAL" in line
    ]
    print(
        f"errors in the logs before the stop: {len(errors)}" + "".join(f"\n  {e[:200]}" for e in errors[:5])
    )


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    with start_sandbox(extra_args=["--quiet"]) as sandbox:
        for workers in [int(w) for w in args.workers.split(",")]:
            rehearse(workers, sandbox)


if __name__ == "__main__":
    main()
