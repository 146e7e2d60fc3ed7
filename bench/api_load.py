"""The REST API's list under load while writebacks run (PostgreSQL, Redis, gunicorn, a Celery worker).

Run: `.venv/bin/python bench/api_load.py [--clients 50] [--writers 4] [--batch 200] [--seconds 30]
[--background-over 20]`. The claim under test: while other systems ask for writebacks of many slips,
the list API keeps answering fast (goal: p95 ≤ 300 ms with 50 clients), and a writeback request
answers within a second, because a web process sends at most WRITEBACK_BACKGROUND_OVER slips itself
(`--background-over 200` runs the old limit, for comparison).

1. The bench database (emptied) gets one shop with `--slips-listed` slips already written back (what
   the list pages through) and enough eligible slips for every writeback the writers can ask for; the
   SA sandbox (a subprocess) knows them and answers every JOS call `--latency-ms` late (JD: ~50 ms);
   a redis-server of its own on a free port (broker, rate limiter, cache).
2. The production shape, on 127.0.0.1 only: gunicorn as docker-compose.yml starts it (`--workers 3`,
   sync workers) and one Celery worker (`-c 2`) for the background jobs. JOS_RATE_LIMIT_PER_SECOND
   stays at its default (20 calls per second per shop); the API's per-key limit is off (one key for
   50 clients would be throttled).
3. Phase "alone": `--clients` threads each GET /api/v1/raw-refunds/?page_size=25 then wait
   `--think` seconds (±50 %), for `--seconds`. Phase "with writebacks": the same, while `--writers`
   threads each POST /api/v1/raw-refunds/writeback/ with `--batch` new slips, one after the other,
   for the same time (at most `--max-writebacks` requests in all). Printed: per phase, requests,
   errors, p50/p95/p99/max of the list; the writeback requests' answers (200/202) and durations.
Bench database: $BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/erp_bench_api (emptied).
"""

import argparse
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, setup_django

parser = argparse.ArgumentParser()
parser.add_argument("--clients", type=int, default=50)
parser.add_argument(
    "--think", type=float, default=1.0, help="seconds each list client waits between requests"
)
parser.add_argument("--writers", type=int, default=4)
parser.add_argument("--batch", type=int, default=200, help="slips per writeback request")
parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
parser.add_argument("--max-writebacks", type=int, default=40, help="writeback requests at most, in all")
parser.add_argument("--background-over", type=int, default=20, help="WRITEBACK_BACKGROUND_OVER of the web")
parser.add_argument("--latency-ms", type=int, default=50)
parser.add_argument("--slips-listed", type=int, default=5000)
parser.add_argument("--gunicorn-workers", type=int, default=3)
args = parser.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REDIS_PORT = free_port()
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
WEB_PORT = free_port()
BASE = f"http://127.0.0.1:{WEB_PORT}"
KEYS = {
    "SECRET_KEY": secrets.token_urlsafe(64),
    "FIELD_ENCRYPTION_KEY": __import__("base64").urlsafe_b64encode(os.urandom(32)).decode(),
}
ENV = {
    "ERP_ENV": "production",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,testserver",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
    "REDIS_URL": REDIS_URL,
    "API_RATE_LIMIT_PER_MINUTE": "0",
    "WRITEBACK_BACKGROUND_OVER": str(args.background_over),
    "LOG_LEVEL": "WARNING",
    **KEYS,
}

if not shutil.which("redis-server"):
    sys.exit("bench/api_load.py needs redis-server (apt-get install redis-server)")
setup_django("erp_bench_api", **ENV)

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from api.keys import api_key_create  # noqa: E402
from orders.models import Order, OrderLine, OrderStatus, Shop  # noqa: E402
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus  # noqa: E402
from sandbox.testing import start_sandbox  # noqa: E402

KEY, SECRET, TOKEN = "LOADKEY", "load-secret", "load-token"


def prepare(eligible):
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            # The shops too: their secrets were encrypted with another run's key.
            "TRUNCATE refunds_writebackattempt, refunds_writebackjob, refunds_rawrefund, orders_orderline, "
            "orders_order, erp_aftersales_event, api_apikey, orders_shop RESTART IDENTITY CASCADE"
        )
    shop, _ = Shop.objects.update_or_create(
        shop_no="BENCH-LOAD",
        defaults={
            "name": "压测店铺（接口负载）",
            "app_key": KEY,
            "app_secret": SECRET,
            "access_token": TOKEN,
        },
    )
    total = args.slips_listed + eligible
    orders = Order.objects.bulk_create(
        [
            Order(shop=shop, tid=str(870_000_000_000 + n), status=OrderStatus.AWAITING_CS_REVIEW)
            for n in range(total)
        ],
        batch_size=2000,
    )
    lines = OrderLine.objects.bulk_create(
        [OrderLine(order=o, shop=shop, oid=f"{o.tid}-1", goods_name="纯棉短袖T恤", num=1) for o in orders],
        batch_size=2000,
    )
    slips = RawRefund.objects.bulk_create(
        [
            RawRefund(
                shop=shop,
                refund_no=str(9_400_000_000 + n),
                tid=o.tid,
                oid=line.oid,
                order=o,
                order_line=line,
                refund_type=RefundType.REFUND,
                platform_status=PlatformStatus.APPLIED,
                writeback_status=WritebackStatus.SUCCEEDED
                if n < args.slips_listed
                else WritebackStatus.NOT_SENT,
            )
            for n, (o, line) in enumerate(zip(orders, lines, strict=True))
        ],
        batch_size=2000,
    )
    _key, raw = api_key_create(shop=shop, name="bench", by="压测")
    return shop, raw, slips[args.slips_listed :]


def start(name, command, env, logs):
    log = open(logs / f"{name}.log", "w")  # noqa: SIM115 (kept open by the child)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    return process


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def cpu_seconds(pgid=None, pid=None):
    """CPU time (user + system) of a process group, or of one process, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if (pgid is not None and int(fields[2]) == pgid) or (pid is not None and int(entry) == pid):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def list_clients(raw, until, results, errors):
    def run():
        with httpx.Client(base_url=BASE, headers={"Authorization": f"Bearer {raw}"}, timeout=60) as http:
            time.sleep(random.uniform(0, args.think))  # not all at once
            while time.monotonic() < until:
                started = time.monotonic()
                try:
                    response = http.get("/api/v1/raw-refunds/", params={"page_size": 25})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.monotonic() - started
                (results if ok else errors).append(elapsed)
                time.sleep(args.think * random.uniform(0.5, 1.5))

    return [threading.Thread(target=run, daemon=True) for _ in range(args.clients)]


def writers(raw, refund_nos, until, answers):
    lock = threading.Lock()
    batches = [refund_nos[i : i + args.batch] for i in range(0, len(refund_nos), args.batch)]
    batches = batches[: args.max_writebacks]

    def run():
        with httpx.Client(base_url=BASE, headers={"Authorization": f"Bearer {raw}"}, timeout=120) as http:
            while time.monotonic() < until:
                with lock:
                    if not batches:
                        return
                    batch = batches.pop(0)
                started = time.monotonic()
                try:
                    code = http.post("/api/v1/raw-refunds/writeback/", json={"refund_nos": batch}).status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                answers.append((code, time.monotonic() - started))

    return [threading.Thread(target=run, daemon=True) for _ in range(args.writers)]


def phase(name, raw, cpu, refund_nos=None):
    before = {who: measure() for who, measure in cpu.items()}
    until = time.monotonic() + args.seconds
    results, errors, answers = [], [], []
    threads = list_clients(raw, until, results, errors)
    if refund_nos:
        threads += writers(raw, refund_nos, until, answers)
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.seconds + 130)
    ms = [r * 1000 for r in results]
    print(
        f"{name:18} list: {len(ms)} requests ({len(ms) / args.seconds:.1f}/s), {len(errors)} errors; "
        f"p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, p99 {percentile(ms, 99):.0f} ms, "
        f"max {max(ms, default=0):.0f} ms"
    )
    if refund_nos:
        codes = {}
        for code, _ in answers:
            codes[code] = codes.get(code, 0) + 1
        took = [t for _, t in answers]
        print(
            f"{'':18} writebacks of {args.batch}: {len(answers)} requests {codes}; "
            f"answered in p50 {percentile(took, 50):.2f} s, max {max(took, default=0):.2f} s"
        )
    used = ", ".join(f"{who} {measure() - before[who]:.1f} s" for who, measure in cpu.items())
    print(f"{'':18} CPU used in the phase: {used}; 1-minute load {os.getloadavg()[0]:.2f}")


def main():
    eligible = args.batch * args.max_writebacks
    shop, raw, slips = prepare(eligible)
    logs = Path(tempfile.mkdtemp(prefix="api-load-"))
    redis_server = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", ""]
    processes = [start("redis", [*redis_server, "--appendonly", "no"], os.environ, logs)]
    sandbox = start_sandbox()
    try:
        sandbox.seed_shop(
            app_key=KEY, app_secret=SECRET, access_token=TOKEN, shop_no=shop.shop_no, name=shop.name
        )
        applications = [
            {"id": int(s.refund_no), "orderId": int(s.tid), "status": 0, "afsType": 1, "skuId": "1"}
            for s in slips
        ]
        for i in range(0, len(applications), 2000):
            sandbox.seed_refunds(KEY, applications[i : i + 2000])
        sandbox.set_faults(app_key=KEY, latency_ms=args.latency_ms)
        env = {**os.environ, **ENV, "JOS_ENDPOINT": sandbox.jos_url, "PYTHONUNBUFFERED": "1"}
        venv = Path(sys.executable).parent
        processes.append(
            start(
                "gunicorn",
                [str(venv / "gunicorn"), "erp_aftersales.wsgi:application", "--bind", f"127.0.0.1:{WEB_PORT}"]
                + ["--workers", str(args.gunicorn_workers), "--timeout", "60"],
                env,
                logs,
            )
        )
        processes.append(
            start(
                "worker",
                [
                    str(venv / "celery"),
                    "-A",
                    "erp_aftersales",
                    "worker",
                    "-c",
                    "2",
                    "-Q",
                    "celery",
                    "-l",
                    "WARNING",
                ],
                env,
                logs,
            )
        )
        for _ in range(120):
            try:
                if httpx.get(f"{BASE}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            sys.exit(f"gunicorn did not answer; logs in {logs}")
        time.sleep(5)  # the worker's start

        load = os.getloadavg()[0]
        print(
            f"clients {args.clients} (think {args.think} s), writers {args.writers} × {args.batch} slips, "
            f"WRITEBACK_BACKGROUND_OVER={args.background_over}, gunicorn --workers {args.gunicorn_workers}, "
            f"JD latency {args.latency_ms} ms, {args.slips_listed} slips listed, {args.seconds:.0f} s a phase, "
            f"load before {load:.2f} ({os.cpu_count()} cores)"
        )
        gunicorn, worker = processes[1], processes[2]
        cpu = {
            "gunicorn": lambda: cpu_seconds(pgid=gunicorn.pid),
            "celery worker": lambda: cpu_seconds(pgid=worker.pid),
            "sandbox (JD)": lambda: cpu_seconds(pid=sandbox.process.pid),
        }
        phase("alone", raw, cpu)
        phase("with writebacks", raw, cpu, [s.refund_no for s in slips])
        statuses = dict.fromkeys(WritebackStatus.labels, 0)
        for status in RawRefund.objects.filter(pk__in=[s.pk for s in slips]).values_list(
            "writeback_status", flat=True
        ):
            statuses[WritebackStatus(status).label] += 1
        print(f"{'':18} slips of the writebacks by now: {statuses}; load after {os.getloadavg()[0]:.2f}")
        print(f"logs: {logs}; JOS rate limit {settings.JOS_RATE_LIMIT_PER_SECOND}/s per shop")
    finally:
        for process in processes:
            stop(process)
        sandbox.stop()


if __name__ == "__main__":
    main()
