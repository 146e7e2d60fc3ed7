"""Outage rehearsal: faults injected mid-batch, then every send counted in the sandbox's call log.

Run: `.venv/bin/python bench/outage.py [--slips 500] [--shops 4] [--rounds 3] [--scenario all]`.
The claim under test: whatever happens to the worker, PostgreSQL, Redis or JD's answer, no slip is
sent twice where JD's state can tell it was already written back, no slip is sent more than twice,
and no slip is lost (never sent while the ERP says otherwise).

The stack is the bench's own, on 127.0.0.1 only: a PostgreSQL cluster (`--pg-data`, created with
initdb if missing, port `--pg-port`), a redis-server (`--redis-port`, no persistence), the SA sandbox
subprocess, a Celery worker (prefork, 2 children) and beat, both on that PostgreSQL and Redis. All of
it is stopped at the end, on Ctrl-C and on an error too. Per round of a scenario:
1. `--slips` new eligible slips (退款 + 申请退款) spread over `--shops` shops, seeded in the sandbox.
   Half the shops have JD's SA policy refund 1 s after 取消发货成功 (JD's state then tells that the
   writeback arrived: 京东财务审核通过); on the others the application stays open after it (it cannot).
2. One background job for all of them (`writeback_job_start`, as the web starts it).
3. Once a quarter of the slips are handled, the fault:
   kill  — kill -9 of the worker's process group once JD has answered 8 sends not yet recorded; a new
           worker starts at once (a supervisor's restart);
   pg    — PostgreSQL stopped (`pg_ctl stop -m fast`) for `--outage` seconds, then started;
   redis — redis-server killed for `--outage` seconds, then started on the same port;
   lost  — the sandbox applies the next `--lost` writebacks and holds their answers past the client's
           timeout (fault `drop_after_apply`).
   A worker or beat that exits meanwhile is restarted (as `make run` and docker-compose do) and counted.
4. Settling: the bench calls the recovery sweep (`writeback_recover`, beat's every-minute task) every
   5 s, until the job is done and no slip is 回传中, within a time limit.
5. Counting, per refId of the round, from the sandbox's call log (a call JD applied has
   success=true; `repeat` marks a refId+status JD already had) and its applications:
   twice / >2 — refIds JD received two / more than two times (one / several repeats);
   …where JD could tell — of those, repeats sent after JD had refunded the application;
   lost — JD never got it and the ERP says 回传成功 or still 回传中;
   unknown — slips whose first send's outcome the ERP never heard (sent again, or sent once with no
           success recorded); settled — of those, sent once and 回传成功 (JD's state settled it).
   untrue — JD has the writeback, the ERP does not say 回传成功.
Bench database: erp_bench_outage on the bench's own cluster.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from itertools import zip_longest
from pathlib import Path

from common import ROOT, Stack

parser = argparse.ArgumentParser()
parser.add_argument("--slips", type=int, default=500, help="slips per round")
parser.add_argument("--shops", type=int, default=4)
parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario")
parser.add_argument("--scenario", default="all", choices=["all", "kill", "pg", "redis", "lost"])
parser.add_argument("--lease", type=int, default=20, help="WRITEBACK_LEASE_SECONDS for every process")
parser.add_argument("--latency-ms", type=int, default=50)
parser.add_argument("--rate-limit", type=int, default=20, help="JOS_RATE_LIMIT_PER_SECOND per shop")
parser.add_argument("--jos-timeout", type=float, default=3.0, help="JOS_TIMEOUT_SECONDS")
parser.add_argument(
    "--recheck", type=int, default=10, help="WRITEBACK_UNKNOWN_RECHECK_SECONDS (结果未知 read again after)"
)
parser.add_argument("--outage", type=float, default=15.0, help="seconds PostgreSQL or Redis stays down")
parser.add_argument("--lost", type=int, default=10, help="answers lost per round (scenario lost)")
parser.add_argument("--settle-limit", type=float, default=300.0, help="seconds a round may take to settle")
parser.add_argument("--pg-data", default="/tmp/pg-outage")
parser.add_argument("--pg-port", type=int, default=5499)
parser.add_argument("--redis-port", type=int, default=6399)
args = parser.parse_args()

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE_URL = f"postgres://postgres@127.0.0.1:{args.pg_port}/erp_bench_outage"
REDIS_URL = f"redis://127.0.0.1:{args.redis_port}/0"
SCENARIOS = ["kill", "pg", "redis", "lost"] if args.scenario == "all" else [args.scenario]


def as_postgres(*command):
    """PostgreSQL refuses to run as root: its tools run as the postgres user then."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *map(str, command)], capture_output=True, text=True, timeout=120)


class Postgres:
    """The bench's own cluster: started here, stopped here, never the shared one."""

    def __init__(self, data, port):
        self.data, self.port, self.log = Path(data), port, Path(f"{data}.log")
        self.running = False

    def start(self):
        if not (self.data / "PG_VERSION").exists():
            done = as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
            if done.returncode:
                sys.exit(f"initdb failed: {done.stderr}")
        if self.log.exists() and os.geteuid() == 0:
            shutil.chown(self.log, "postgres")
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1"
        done = as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "start")
        if done.returncode:
            sys.exit(f"pg_ctl start failed: {done.stdout}{done.stderr}; log {self.log}")
        self.running = True

    def stop(self):
        if self.running:
            as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
            self.running = False


class Redis:
    def __init__(self, port):
        self.port, self.process = port, None

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if done.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        sys.exit(f"redis-server on {self.port} did not answer")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # an outage, not a shutdown: nothing is saved anyway
            self.process.wait()
        self.process = None


postgres, redis_server = Postgres(args.pg_data, args.pg_port), Redis(args.redis_port)
sandbox = stack = None


def stop_everything(*_):
    if stack is not None:
        stack.stop_all()
    if sandbox is not None:
        sandbox.stop()
    redis_server.stop()
    postgres.stop()


def on_signal(signum, frame):
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, on_signal)
postgres.start()
redis_server.start()
try:
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        BENCH_DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        WRITEBACK_LEASE_SECONDS=str(args.lease),
        JOS_RATE_LIMIT_PER_SECOND=str(args.rate_limit),
        JOS_TIMEOUT_SECONDS=str(args.jos_timeout),
        WRITEBACK_UNKNOWN_RECHECK_SECONDS=str(args.recheck),
    )
    from common import setup_django

    setup_django("erp_bench_outage")
except BaseException:
    stop_everything()
    raise

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Q  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402

from orders.models import Order, OrderLine, OrderStatus, Shop  # noqa: E402
from refunds import models as refunds_models  # noqa: E402
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus  # noqa: E402
from sa_sync.models import WritebackAttempt, WritebackJob, WritebackOutcome  # noqa: E402
from sa_sync.schedules import PLATFORM_SYNC_TASK_NAME, RECOVERY_TASK_NAME  # noqa: E402
from sa_sync.writeback import writeback_job_start, writeback_recover  # noqa: E402
from sandbox.testing import start_sandbox  # noqa: E402

WRITEBACK = settings.JOS_WRITEBACK_METHOD
CANCELLED = "1"  # 取消发货成功, what a refund-only slip sends
REFUNDED = 3  # 京东财务审核通过
UNKNOWN = getattr(WritebackStatus, "UNKNOWN", None)  # 结果未知, where the code has it
RESEND_LIMIT = getattr(refunds_models, "UNKNOWN_RESEND_LIMIT", 1)


def pending(ids):
    """Slips not settled yet: 回传中, or 结果未知 with its one resend still to come (a 结果未知 after a
    second unknown outcome is final: the sweep only reads JD for it, never sends)."""
    in_flight = Q(writeback_status=WritebackStatus.SENDING)
    if UNKNOWN is not None:
        in_flight |= Q(writeback_status=UNKNOWN, writeback_unknown_count__lte=RESEND_LIMIT)
    return RawRefund.objects.filter(in_flight, pk__in=ids)


def db_ready(timeout=60):
    """After a PostgreSQL restart the bench's own connection is dead: a new one, when it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection.close()
            connection.ensure_connection()
            return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError("PostgreSQL did not come back")


def prepare():
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE refunds_writebackattempt, refunds_writebackjob, refunds_rawrefund, orders_orderline, "
            "orders_order, erp_aftersales_event RESTART IDENTITY CASCADE"
        )
    PeriodicTask.objects.filter(name=PLATFORM_SYNC_TASK_NAME).update(enabled=False)
    PeriodicTask.objects.filter(name=RECOVERY_TASK_NAME).update(enabled=True, last_run_at=None)
    shops = []
    for n in range(args.shops):
        shop, _ = Shop.objects.update_or_create(
            shop_no=f"BENCH-OUT-{n}",
            defaults={
                "name": f"压测店铺（故障演练{n}）",
                "app_key": f"OUTKEY{n}",
                "app_secret": f"out-secret-{n}",
                "access_token": f"out-token-{n}",
                "sa_writeback_enabled": True,
                "credential_error": "",
            },
        )
        shops.append(shop)
    user, _ = get_user_model().objects.get_or_create(username="bench_outage_cs", defaults={"is_staff": True})
    return shops, user


def tells(shop_index):
    return shop_index % 2 == 0  # JD refunds after the writeback: its state says it arrived


def make_round(shops, number):
    """`--slips` new slips over the shops, seeded in the sandbox; their ids and refId → shop index."""
    base = number * args.slips
    per_shop, shop_of = [], {}
    for index, shop in enumerate(shops):
        count = len(range(index, args.slips, len(shops)))
        offsets = [base + index * args.slips * 100 + k for k in range(count)]
        orders = Order.objects.bulk_create(
            [
                Order(shop=shop, tid=str(870_000_000_000 + o), status=OrderStatus.AWAITING_CS_REVIEW)
                for o in offsets
            ]
        )
        lines = OrderLine.objects.bulk_create(
            [OrderLine(order=o, shop=shop, oid=f"{o.tid}-1", goods_name="纯棉短袖T恤", num=1) for o in orders]
        )
        slips = RawRefund.objects.bulk_create(
            [
                RawRefund(
                    shop=shop,
                    refund_no=str(9_400_000_000 + o),
                    tid=order.tid,
                    oid=line.oid,
                    order=order,
                    order_line=line,
                    refund_type=RefundType.REFUND,
                    platform_status=PlatformStatus.APPLIED,
                )
                for o, order, line in zip(offsets, orders, lines, strict=True)
            ]
        )
        sandbox.seed_refunds(
            shop.app_key,
            [
                {"id": int(s.refund_no), "orderId": int(s.tid), "status": 0, "afsType": 1, "skuId": "1"}
                for s in slips
            ],
        )
        per_shop.append([s.pk for s in slips])
        shop_of.update({s.refund_no: index for s in slips})
    # Interleaved, so every chunk of the job (and every fault) meets every shop.
    ids = [pk for group in zip_longest(*per_shop) for pk in group if pk is not None]
    return ids, shop_of


def writeback_calls(refs):
    return [c for c in sandbox.calls(method=WRITEBACK) if str(c["params"].get("refId")) in refs]


def supervise(restarts):
    """A dead worker or beat is started again, as a supervisor would."""
    for name, process in list(stack.processes.items()):
        if process.poll() is None or name.startswith("dead-"):
            continue
        stack.processes[f"dead-{name}-{restarts[name]}"] = stack.processes.pop(name)
        restarts[name] += 1
        if name == "worker":
            stack.worker("worker")
        else:
            start_beat()


def start_beat():
    stack.start("beat", "beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--loglevel", "INFO")


def wait(what, condition, timeout, restarts):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervise(restarts)
        if condition():
            return True
        time.sleep(0.25)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {stack.logs}")


def inject(scenario, job, refs, restarts):
    """The fault, once the job is a quarter through."""
    quarter = max(1, args.slips // 4)
    wait(
        "the job to be a quarter through",
        lambda: WritebackJob.objects.filter(pk=job.pk, done__gte=quarter).exists(),
        180,
        restarts,
    )
    if scenario == "kill":

        def answers_unrecorded():
            done = WritebackJob.objects.filter(pk=job.pk).values_list("done", flat=True).get()
            return len(writeback_calls(refs)) >= done + 8

        wait("answers not yet recorded", answers_unrecorded, 60, restarts)
        stack.kill("worker")
        stack.processes.pop("worker")
        stack.worker("worker")
    elif scenario == "pg":
        postgres.stop()
        time.sleep(args.outage)
        postgres.start()
        db_ready()
    elif scenario == "redis":
        redis_server.stop()
        time.sleep(args.outage)
        redis_server.start()
    elif scenario == "lost":
        drop = {"kind": "drop_after_apply", "seconds": args.jos_timeout + 2, "method": WRITEBACK}
        sandbox.set_faults(latency_ms=args.latency_ms, fail_next=[drop] * args.lost)


def settle(job, ids, restarts, started):
    """Until the job is done and nothing is in flight; the sweep every 5 s instead of every minute."""
    deadline = started + args.settle_limit
    last_sweep = 0.0
    sweeps = 0
    while time.monotonic() < deadline:
        supervise(restarts)
        if time.monotonic() - last_sweep >= 5:
            last_sweep = time.monotonic()
            try:
                writeback_recover()
                sweeps += 1
            except Exception as exc:  # Redis may still be coming back: the next sweep tries again
                print(f"    sweep failed: {type(exc).__name__}: {exc}"[:200], flush=True)
                db_ready()
        done = WritebackJob.objects.filter(pk=job.pk, status=WritebackJob.Status.DONE).exists()
        if done and not pending(ids).exists():
            return True, sweeps
        time.sleep(0.5)
    return False, sweeps


def count(ids, shop_of):
    refs = set(shop_of)
    calls = sorted(writeback_calls(refs), key=lambda c: c["seq"])
    applied = defaultdict(list)
    for c in calls:
        if c.get("success"):
            applied[str(c["params"]["refId"])].append(c)
    jd = {}
    for index in set(shop_of.values()):
        for r in sandbox.refunds(app_key=f"OUTKEY{index}"):
            if str(r["id"]) in refs:
                jd[str(r["id"])] = r
    slips = {s.refund_no: s for s in RawRefund.objects.filter(pk__in=ids)}
    heard = set(
        WritebackAttempt.objects.filter(
            slip_id__in=ids, outcome=WritebackOutcome.SUCCEEDED, response_code="0"
        ).values_list("slip__refund_no", flat=True)
    )
    out = Counter()
    notes = []
    for ref in sorted(refs):
        sends, slip, state = applied.get(ref, []), slips[ref], jd[ref]
        repeats = [c for c in sends if c.get("repeat")]
        has_it = bool(state.get("warehouseWritebacks"))
        if repeats:
            out["twice"] += 1
            refunded_at = state.get("checkTime") if state["status"] == REFUNDED else None
            if refunded_at and refunded_at <= repeats[0]["time"]:
                out["twice_tell"] += 1
                notes.append(f"{ref}: resent at {repeats[0]['time']} after JD refunded it at {refunded_at}")
        if len(repeats) >= 2:
            out["more"] += 1
            notes.append(f"{ref}: {len(sends)} sends, codes {[c['code'] for c in sends]}")
        if not has_it and slip.writeback_status in (WritebackStatus.SUCCEEDED, WritebackStatus.SENDING):
            out["lost"] += 1
            notes.append(f"{ref}: JD has no writeback, the ERP says {slip.get_writeback_status_display()}")
        if not has_it and slip.writeback_status == WritebackStatus.FAILED:
            out["failed_unsent"] += 1
        if has_it and slip.writeback_status != WritebackStatus.SUCCEEDED:
            out["untrue"] += 1
            if out["untrue"] <= 3:
                notes.append(
                    f"{ref}: JD has it, the ERP says {slip.get_writeback_status_display()}: {slip.writeback_message[:80]}"
                )
        if sends and (repeats or ref not in heard):
            out["unknown"] += 1
            if tells(shop_of[ref]):
                out["unknown_tell"] += 1
            if not repeats and slip.writeback_status == WritebackStatus.SUCCEEDED:
                out["settled"] += 1
    out["calls"] = len(calls)
    out["injected"] = sum(1 for c in calls if c.get("injected"))
    return out, notes


def run_round(scenario, number, shops, user, restarts):
    ids, shop_of = make_round(shops, number)
    refs = set(shop_of)
    started = time.monotonic()
    with transaction.atomic():
        job = writeback_job_start(ids, by=user)
    inject(scenario, job, refs, restarts)
    fault_at = time.monotonic()
    settled, sweeps = settle(job, ids, restarts, started)
    elapsed = time.monotonic() - started
    sandbox.set_faults(latency_ms=args.latency_ms)  # what the lost answers left unconsumed
    out, notes = count(ids, shop_of)
    out.update(elapsed=elapsed, recovery=time.monotonic() - fault_at, settled_in_time=settled, sweeps=sweeps)
    return out, notes


def main():
    global sandbox, stack
    shops, user = prepare()
    sandbox = start_sandbox()
    for index, shop in enumerate(shops):
        sandbox.seed_shop(
            app_key=shop.app_key,
            app_secret=shop.app_secret,
            access_token=shop.access_token,
            shop_no=shop.shop_no,
            name=shop.name,
        )
        sandbox.set_policy(
            shop.app_key, auto_refund_on=[CANCELLED] if tells(index) else ["2"], delay_seconds=1
        )
    sandbox.set_faults(latency_ms=args.latency_ms)
    env = {
        **os.environ,
        "JOS_ENDPOINT": sandbox.jos_url,
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    stack = Stack(env, prefix="outage-")
    stack.worker("worker")
    start_beat()
    load_before = os.getloadavg()
    print(
        f"slips {args.slips} a round over {args.shops} shops (half refunded by JD 1 s after the writeback), "
        f"rounds {args.rounds}, lease {args.lease} s, unknown recheck {args.recheck} s, JOS timeout {args.jos_timeout} s, JD latency "
        f"{args.latency_ms} ms, rate limit {args.rate_limit}/s a shop, outage {args.outage:.0f} s, "
        f"lost answers {args.lost} a round; logs in {stack.logs}",
        flush=True,
    )
    rows, all_notes = [], []
    number = 0
    for scenario in SCENARIOS:
        restarts = Counter()
        totals = Counter()
        elapsed = []
        for r in range(args.rounds):
            out, notes = run_round(scenario, number, shops, user, restarts)
            number += 1
            elapsed.append(out["elapsed"])
            for key in (
                "twice",
                "twice_tell",
                "more",
                "lost",
                "unknown",
                "unknown_tell",
                "settled",
                "untrue",
                "failed_unsent",
                "calls",
                "injected",
            ):
                totals[key] += out[key]
            totals["unsettled"] += not out["settled_in_time"]
            print(
                f"  {scenario} round {r + 1}: twice {out['twice']} (JD could tell {out['twice_tell']}), "
                f">2 {out['more']}, lost {out['lost']}, unknown {out['unknown']} (settled by JD state "
                f"{out['settled']}), untrue {out['untrue']}, failed unsent {out['failed_unsent']}, "
                f"calls {out['calls']}, {out['elapsed']:.0f} s ({out['recovery']:.0f} s after the fault"
                f"{'' if out['settled_in_time'] else ', NOT SETTLED'}), sweeps {out['sweeps']}",
                flush=True,
            )
            all_notes += [f"{scenario} round {r + 1}: {n}" for n in notes]
        rows.append((scenario, totals, elapsed, dict(restarts)))
    load_after = os.getloadavg()

    print(f"\nload average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} ({os.cpu_count()} cores)")
    print(
        "| scenario | rounds | sent twice (JD could tell) | sent >2 | lost | unknown first outcome (settled by JD state) | JD has it, ERP not 回传成功 | failed, not sent | restarts | elapsed a round |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scenario, t, elapsed, restarts in rows:
        print(
            f"| {scenario} | {args.rounds} | {t['twice']} ({t['twice_tell']}) | {t['more']} | {t['lost']} | "
            f"{t['unknown']} ({t['settled']}) | {t['untrue']} | {t['failed_unsent']} | "
            f"{', '.join(f'{k} {v}' for k, v in restarts.items()) or '—'} | "
            f"{min(elapsed):.0f}–{max(elapsed):.0f} s{' (unsettled ' + str(t['unsettled']) + ')' if t['unsettled'] else ''} |"
        )
    if all_notes:
        print("\nslips against the goal (first 40):")
        for note in all_notes[:40]:
            print("  " + note)


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_everything()
