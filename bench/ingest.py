"""Bulk push of raw refund slips through the REST API, against a bare bulk_create (PostgreSQL).

Run: `.venv/bin/python bench/ingest.py [--slips 100000] [--batch 500] [--url http://host:port]`.
Empties the bench database ($BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/erp_bench_ingest),
then:
1. bare: the same rows as `RawRefund` instances through `bulk_create(batch_size=500)`, one
   transaction per batch (the floor: no HTTP, no validation, no events);
2. empties the slips again and starts gunicorn (one worker, as `make run` would serve) on the bench
   database, unless --url names a running server on it; creates a shop and an API key; POSTs the
   slips to /api/v1/raw-refunds/ in requests of 500 (bodies serialised before the clock starts);
3. pushes the same bodies again (every item unchanged: the idempotent re-push).
Prints slips per second for each and the ratio API / bare. Goal: the first push within 3× of bare.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal

from common import ROOT, setup_django

setup_django("erp_bench_ingest", API_RATE_LIMIT_PER_MINUTE="0")
import httpx  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from api.keys import api_key_create  # noqa: E402
from api.models import ApiKey  # noqa: E402
from orders.models import Shop  # noqa: E402
from platforms.jd.signing import SHANGHAI  # noqa: E402
from refunds.models import RawRefund  # noqa: E402


def items(count: int) -> list[dict]:
    base = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    reasons = ["不想要了", "拍错/多拍", "商品质量问题", "7天无理由退货"]
    return [
        {
            "refund_no": str(9_000_000_000 + n),
            "tid": str(850_000_000_000 + n // 2),
            "oid": f"{850_000_000_000 + n // 2}-{100_000 + n % 2}",
            "refund_type": 1 + n % 2,
            "platform_status": 2 if n % 2 == 0 else 3,
            "reason": reasons[n % 4],
            "description": "买家描述",
            "refund_amount": "99.00",
            "num": 1,
            "buyer_nick": f"buyer{n % 5000}",
            "apply_time": (base + timedelta(seconds=n)).isoformat(),
            "modified": (base + timedelta(seconds=n, minutes=5)).isoformat(),
        }
        for n in range(count)
    ]


def empty():
    with connection.cursor() as cur:
        cur.execute("TRUNCATE refunds_rawrefund, erp_aftersales_event RESTART IDENTITY CASCADE")


def bare(shop, rows, batch) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        objs = [
            RawRefund(
                shop=shop,
                refund_no=r["refund_no"],
                tid=r["tid"],
                oid=r["oid"],
                refund_type=r["refund_type"],
                platform_status=r["platform_status"],
                reason=r["reason"],
                description=r["description"],
                refund_amount=Decimal(r["refund_amount"]),
                num=r["num"],
                buyer_nick=r["buyer_nick"],
                apply_time=datetime.fromisoformat(r["apply_time"]),
                platform_modified=datetime.fromisoformat(r["modified"]),
            )
            for r in rows[start : start + batch]
        ]
        with transaction.atomic():
            RawRefund.objects.bulk_create(objs)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server():
    port = free_port()
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1,localhost", "API_RATE_LIMIT_PER_MINUTE": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "erp_aftersales.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return url, process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def push(url, key, bodies) -> tuple[float, dict]:
    totals = {"created": 0, "updated": 0, "unchanged": 0, "ignored_older": 0}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post(f"{url}/api/v1/raw-refunds/", content=body, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"push failed: {response.status_code} {response.text[:300]}")
            answer = response.json()
            for name in totals:
                totals[name] += answer[name]
        return time.perf_counter() - started, totals


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slips", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--url", help="a running server on the bench database (else gunicorn is started)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    empty()
    shop, _ = Shop.objects.update_or_create(shop_no="BENCH-API", defaults={"name": "接口压测店铺"})
    ApiKey.objects.filter(shop=shop).delete()
    _, key = api_key_create(shop=shop, name="bench", by="bench")
    rows = items(args.slips)

    bare_seconds = bare(shop, rows, args.batch)
    empty()
    bodies = [
        json.dumps({"items": rows[start : start + args.batch]}, ensure_ascii=False).encode()
        for start in range(0, len(rows), args.batch)
    ]
    server = None
    url = args.url
    if url is None:
        url, server = start_server()
    try:
        api_seconds, first = push(url, key, bodies)
        again_seconds, second = push(url, key, bodies)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(10)
    assert RawRefund.objects.filter(shop=shop).count() == args.slips
    n = args.slips
    print(f"slips: {n}, requests of {args.batch}: {len(bodies)}")
    print(f"bare bulk_create:         {bare_seconds:7.2f} s  {n / bare_seconds:9.0f} slips/s")
    print(f"API push (new slips):     {api_seconds:7.2f} s  {n / api_seconds:9.0f} slips/s  {first}")
    print(f"API re-push (unchanged):  {again_seconds:7.2f} s  {n / again_seconds:9.0f} slips/s  {second}")
    print(f"ratio API / bare: {api_seconds / bare_seconds:.2f}x (goal <= 3x)")


if __name__ == "__main__":
    main()
