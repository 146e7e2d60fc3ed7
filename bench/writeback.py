"""退款回传 throughput through the service, against bare signed calls (PostgreSQL + sandbox).

Run: `.venv/bin/python bench/writeback.py [--slips 500] [--concurrency 8] [--latency-ms 20]`.
1. 500 eligible slips written back (each batch of 50 read fresh from JD first) through `sa_sync.writeback.refund_writeback` at concurrency 8, the
   sandbox answering after 20 ms; against 500 bare signed updateWarehouseStatus calls at the same
   concurrency (same client class, same sandbox, JD's shapes: numbers in, returnType out). Goal: <= 1.15x.
2. One right-click writeback of 50 slips: server time of the admin action request (Django test
   client, logged in as 客服), the same 20 ms per JD call.
The rate limit is off (it would be what is measured). Bench database: $BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/erp_bench (emptied).
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from common import setup_django

setup_django("erp_bench", JOS_RATE_LIMIT_PER_SECOND="0")
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from orders.models import Order, OrderLine, OrderStatus, Shop  # noqa: E402
from platforms.jd.adapter import REFUND_QUERY as FRESH_READ_METHOD  # noqa: E402
from platforms.jd.client import JosClient, check_business_result, check_write_result  # noqa: E402
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus  # noqa: E402
from sa_sync.writeback import refund_writeback  # noqa: E402
from sandbox.testing import start_sandbox  # noqa: E402

KEY, SECRET, TOKEN = "BENCHKEY", "bench-secret", "bench-token"


def make_slips(shop, count, offset):
    orders = Order.objects.bulk_create(
        [
            Order(shop=shop, tid=str(860_000_000_000 + offset + n), status=OrderStatus.AWAITING_CS_REVIEW)
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
                refund_no=str(9_100_000_000 + offset + n),
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slips", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=20)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE refunds_writebackattempt, refunds_rawrefund, orders_orderline, orders_order, "
            "erp_aftersales_event RESTART IDENTITY CASCADE"
        )
    shop, _ = Shop.objects.update_or_create(
        shop_no="BENCH",
        defaults={
            "name": "压测店铺",
            "app_key": KEY,
            "app_secret": SECRET,
            "access_token": TOKEN,
            "sa_writeback_enabled": True,
            "credential_error": "",
        },
    )
    slips = make_slips(shop, args.slips, 0)
    action_slips = make_slips(shop, 50, 100_000)
    bare_ids = [(str(870_000_000_000 + n), 9_200_000_000 + n) for n in range(args.slips)]

    with start_sandbox() as sandbox:
        settings.JOS_ENDPOINT = sandbox.jos_url
        sandbox.seed_shop(
            app_key=KEY, app_secret=SECRET, access_token=TOKEN, shop_no="BENCH", name="压测店铺"
        )
        applications = [
            {
                "id": int(s.refund_no),
                "orderId": str(s.tid),
                "status": 0,
                "skuVoList": [{"skuId": "1", "skuCount": 1}],
            }
            for s in [*slips, *action_slips]
        ]
        applications += [
            {"id": ref, "orderId": tid, "status": 0, "skuVoList": [{"skuId": "1", "skuCount": 1}]}
            for tid, ref in bare_ids
        ]
        for i in range(0, len(applications), 2000):
            sandbox.seed_refunds(KEY, applications[i : i + 2000])
        sandbox.set_faults(app_key=KEY, latency_ms=args.latency_ms)

        start = time.perf_counter()
        results = refund_writeback([s.pk for s in slips], by="压测", concurrency=args.concurrency)
        service_seconds = time.perf_counter() - start
        assert all(r.succeeded for r in results), [r.message for r in results if not r.succeeded][:3]
        reads = len(sandbox.calls(method=FRESH_READ_METHOD))

        # What one fresh read of 50 applications costs on its own (the same 20 ms from JD).
        read_client = JosClient.for_shop(shop)
        read_ids = ",".join(s.refund_no for s in slips[:50])
        start = time.perf_counter()
        for _ in range(10):
            payload = read_client.call(FRESH_READ_METHOD, {"ids": read_ids, "pageIndex": 1, "pageSize": 50})
            check_business_result(payload, "queryResult")
        read_ms = (time.perf_counter() - start) * 100

        client = JosClient.for_shop(shop)

        def bare(ids):
            payload = client.call(
                settings.JOS_WRITEBACK_METHOD, {"orderId": int(ids[0]), "refId": ids[1], "status": 1}
            )
            check_write_result(payload, "returnType")

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            list(pool.map(bare, bare_ids))
        bare_seconds = time.perf_counter() - start

        user, _ = get_user_model().objects.get_or_create(username="bench_cs", defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name="客服"))
        web = Client()
        web.force_login(user)
        start = time.perf_counter()
        response = web.post(
            "/admin/refunds/rawrefund/",
            {"action": "refund_writeback", "_selected_action": [s.pk for s in action_slips], "index": 0},
        )
        action_seconds = time.perf_counter() - start
        assert response.status_code == 302, response.status_code
        done = RawRefund.objects.filter(
            pk__in=[s.pk for s in action_slips], writeback_status=WritebackStatus.SUCCEEDED
        ).count()
        assert done == 50, done

    print(
        f"slips written back:        {args.slips} at concurrency {args.concurrency}, JD latency {args.latency_ms} ms"
    )
    print(f"through the service:       {service_seconds:.2f} s ({args.slips / service_seconds:.0f} slips/s)")
    print(
        f"fresh reads before sending: {reads} queryPageList calls ({args.slips} slips), {read_ms:.0f} ms each"
    )
    print(f"bare signed calls:         {bare_seconds:.2f} s ({args.slips / bare_seconds:.0f} calls/s)")
    print(f"ratio service / bare:      {service_seconds / bare_seconds:.2f}x  (goal <= 1.15x)")
    print(
        f"right-click of 50 slips:   {action_seconds:.2f} s server time for the action request "
        f"(WRITEBACK_CONCURRENCY={settings.WRITEBACK_CONCURRENCY})"
    )


if __name__ == "__main__":
    main()
