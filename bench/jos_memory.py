"""Peak memory of a writeback whose JOS answer is huge (issue 9: a 200 MB answer took a worker to 5-8 GB).

Run: `.venv/bin/python bench/jos_memory.py [--mb 200] [--root /path/to/another/checkout ...]`.
Starts an SA sandbox (this checkout's) that pads every answer to --mb megabytes, then, for each root
(default: this checkout), runs one writeback of one slip in a fresh subprocess with its own SQLite
database and prints that process's peak RSS (resource.getrusage maxrss) before and after the
writeback, and how the writeback ended. Pass `--root` of a checkout without the cap to see "before".
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, resource, sys
sys.path.insert(0, os.environ["BENCH_ROOT"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_aftersales.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from orders.models import Order, OrderLine, OrderStatus, Shop
from refunds.models import PlatformStatus, RawRefund, RefundType
from sa_sync.writeback import refund_writeback

shop = Shop.objects.create(shop_no="MEM", name="内存测试店", app_key="MEMKEY", app_secret="mem-secret",
                           access_token="mem-token", sa_writeback_enabled=True)
order = Order.objects.create(shop=shop, tid="810000000001", status=OrderStatus.AWAITING_CS_REVIEW)
line = OrderLine.objects.create(order=order, shop=shop, oid="810000000001-1", goods_name="测试")
slip = RawRefund.objects.create(shop=shop, refund_no="7000000001", tid="810000000001", oid=line.oid,
                                order=order, order_line=line, refund_type=RefundType.REFUND,
                                platform_status=PlatformStatus.APPLIED)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
[result] = refund_writeback([slip.pk])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "outcome": result.outcome,
                  "message": result.message[:120]}, ensure_ascii=False))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--root", action="append", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sandbox.testing import start_sandbox

    with start_sandbox() as sandbox:
        sandbox.seed_shop(
            app_key="MEMKEY",
            app_secret="mem-secret",
            access_token="mem-token",
            shop_no="MEM",
            name="内存测试店",
        )
        for root in args.root or [str(ROOT)]:
            sandbox.seed_refunds(
                "MEMKEY", [{"id": 7000000001, "orderId": 810000000001, "skuId": "1", "status": 0}]
            )
            sandbox.set_faults(app_key="MEMKEY", answer_padding_bytes=args.mb * 1024 * 1024)
            with tempfile.TemporaryDirectory() as tmp:
                env = {
                    **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
                    "BENCH_ROOT": root,
                    "SQLITE_PATH": str(Path(tmp) / "db.sqlite3"),
                    "JOS_ENDPOINT": sandbox.jos_url,
                    "JOS_RATE_LIMIT_PER_SECOND": "0",
                    "JOS_TIMEOUT_SECONDS": "120",
                    "LOG_LEVEL": "WARNING",
                }
                done = subprocess.run(
                    [sys.executable, "-c", CHILD], cwd=tmp, env=env, capture_output=True, text=True
                )
            if done.returncode:
                print(f"{root}: failed\n{done.stderr[-2000:]}")
                continue
            got = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{root}: answer {args.mb} MB  peak RSS before {got['before_kb'] / 1024:,.0f} MB, "
                f"after the writeback {got['after_kb'] / 1024:,.0f} MB; "
                f"outcome {got['outcome']}: {got['message']}"
            )


if __name__ == "__main__":
    main()
