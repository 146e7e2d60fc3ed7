"""Platform sync throughput against the SA sandbox (PostgreSQL).

Run: `.venv/bin/python bench/sync.py [--rows 20000] [--latency-ms 50]`. Starts a sandbox subprocess holding N refund
applications for one shop, runs a full refund sync into an emptied bench database
($BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/erp_bench), then makes the same number
of bare signed queryPageList page requests with the same client and page size, just before and
just after the sync (their mean is the reference), asked as the sync asks (showSku, JD's shapes).
The rate limit is off for both (it would otherwise be what is measured). Goal: sync within 1.15x of
the bare requests.

`--kind service_orders`: the same for N of JD's after-sales service orders (服务单,
`jingdong.asc.query.list` by updateTime), against bare signed asc.query.list page requests.
"""

import argparse
import time
from datetime import datetime, timedelta

from common import setup_django

setup_django("erp_bench", JOS_RATE_LIMIT_PER_SECOND="0")
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from orders.models import Shop  # noqa: E402
from platforms.jd.adapter import (  # noqa: E402
    ASC_OPERATOR,
    ASC_PAGE_SIZE,
    ASC_QUERY_LIST,
    REFUND_PAGE_SIZE,
    REFUND_QUERY,
    JdPlatform,
)
from platforms.jd.client import JosClient, check_business_result  # noqa: E402
from platforms.jd.signing import SHANGHAI, jd_timestamp  # noqa: E402
from refunds.models import RawRefund  # noqa: E402
from sa_sync.models import SyncKind  # noqa: E402
from sa_sync.platform_sync import shop_sync  # noqa: E402
from sandbox.testing import start_sandbox  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="the sandbox answers every JOS call this late (JD: ~50)"
    )
    parser.add_argument("--kind", choices=["refunds", "service_orders"], default="refunds")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if args.kind == "service_orders":
        return service_orders_bench(args)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE refunds_rawrefund, erp_aftersales_event, sa_sync_syncrun, sa_sync_synccursor "
            "RESTART IDENTITY CASCADE"
        )
    shop, _ = Shop.objects.update_or_create(
        shop_no="BENCH",
        defaults={
            "name": "压测店铺",
            "app_key": "BENCHKEY",
            "app_secret": "bench-secret",
            "access_token": "bench-token",
        },
    )
    now = datetime.now(tz=SHANGHAI)
    reasons = ["不想要了", "拍错/多拍", "商品质量问题", "7天无理由退货"]
    apps = [
        {
            "id": 9_000_000_000 + n,
            "orderId": 850_000_000_000 + n // 2,
            "skuVoList": [{"skuId": str(100_000_000_000 + n % 2), "skuName": "纯棉短袖T恤", "skuCount": 1}],
            "applyTime": jd_timestamp(now - timedelta(minutes=10 + n * 0.05)),
            "applyRefundSum": 9900,
            "status": 0,
            "reason": reasons[n % 4],
            "buyerName": f"买家{n}",
        }
        for n in range(args.rows)
    ]
    with start_sandbox() as sandbox:
        settings.JOS_ENDPOINT = sandbox.jos_url
        sandbox.seed_shop(
            app_key="BENCHKEY",
            app_secret="bench-secret",
            access_token="bench-token",
            shop_no="BENCH",
            name="压测店铺",
        )
        for i in range(0, len(apps), 5000):
            sandbox.seed_refunds("BENCHKEY", apps[i : i + 5000])
        if args.latency_ms:
            sandbox.set_faults(app_key="BENCHKEY", latency_ms=args.latency_ms)
        sandbox.clear_calls()

        client = JosClient.for_shop(shop)
        start_text = jd_timestamp(now - timedelta(days=30))
        end_text = jd_timestamp(now + timedelta(seconds=1))
        pages = -(-args.rows // REFUND_PAGE_SIZE)

        def bare(requests):
            start = time.perf_counter()
            for i in range(requests):
                payload = client.call(
                    REFUND_QUERY,
                    {
                        "applyTimeStart": start_text,
                        "applyTimeEnd": end_text,
                        "pageIndex": 1 + i % pages,
                        "pageSize": REFUND_PAGE_SIZE,
                        "showSku": True,
                    },
                )
                check_business_result(payload, "queryResult")
            return time.perf_counter() - start

        # The bare requests run just before and just after the sync, and the sync is compared with
        # their mean: on a shared machine the load drifts within a minute.
        expected = pages + 9  # the applyTime pages, the checkTime pass and the empty chunks
        bare_before = bare(expected)
        sandbox.clear_calls()
        start = time.perf_counter()
        run = shop_sync(shop, kind=SyncKind.REFUNDS, platform=JdPlatform(shop, client=client), trigger="压测")
        sync_seconds = time.perf_counter() - start
        assert run.error == "", run.error
        requests = len(sandbox.calls(method=REFUND_QUERY))
        assert RawRefund.objects.filter(shop=shop).count() == args.rows
        bare_after = bare(requests)
        bare_seconds = (bare_before * requests / expected + bare_after) / 2

    print(f"refund applications:   {args.rows:,}  (JOS latency {args.latency_ms} ms)")
    print(f"page requests:         {requests} (page size {REFUND_PAGE_SIZE})")
    print(f"full sync:             {sync_seconds:.2f} s  ({args.rows / sync_seconds:,.0f} rows/s)")
    print(
        f"bare signed requests:  {bare_seconds:.2f} s  ({args.rows / bare_seconds:,.0f} rows/s; "
        f"before the sync {bare_before * requests / expected:.2f} s, after {bare_after:.2f} s)"
    )
    print(f"ratio sync / bare:     {sync_seconds / bare_seconds:.2f}x  (goal <= 1.15x)")


def service_orders_bench(args):
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE refunds_rawrefund, erp_aftersales_event, sa_sync_syncrun, sa_sync_synccursor "
            "RESTART IDENTITY CASCADE"
        )
    shop, _ = Shop.objects.update_or_create(
        shop_no="BENCH",
        defaults={
            "name": "压测店铺",
            "app_key": "BENCHKEY",
            "app_secret": "bench-secret",
            "access_token": "bench-token",
            "vender_id": "10080001",
        },
    )
    now = datetime.now(tz=SHANGHAI)
    reasons = ["尺码不合适", "商品质量问题", "7天无理由退货", "收到商品破损"]
    # Returns and exchanges waiting for the goods, half of them shipped back by the buyer.
    rows = [
        {
            "serviceId": 1_900_000_000 + n,
            "applyId": 1_800_000_000 + n,
            "orderId": 860_000_000_000 + n // 2,
            "skuId": 100_000_000_000 + n % 2,
            "customerExpect": (10, 20)[n % 2],
            "serviceStatus": 10005,
            "serviceCount": 1,
            "actualPayPrice": "99.00",
            "questionTypeCid2Name": reasons[n % 4],
            "customerName": f"买家{n}",
            "applyTime": jd_timestamp(now - timedelta(minutes=20 + n * 0.05)),
            "updateTime": jd_timestamp(now - timedelta(minutes=10 + n * 0.05)),
            **({"expressCode": f"SF{n:012d}"} if n % 4 < 2 else {}),
        }
        for n in range(args.rows)
    ]
    with start_sandbox() as sandbox:
        settings.JOS_ENDPOINT = sandbox.jos_url
        sandbox.seed_shop(
            app_key="BENCHKEY",
            app_secret="bench-secret",
            access_token="bench-token",
            shop_no="BENCH",
            name="压测店铺",
            vender_id="10080001",
        )
        for i in range(0, len(rows), 5000):
            sandbox.seed_service_orders("BENCHKEY", rows[i : i + 5000])
        if args.latency_ms:
            sandbox.set_faults(app_key="BENCHKEY", latency_ms=args.latency_ms)
        sandbox.clear_calls()

        client = JosClient.for_shop(shop)
        start_text = jd_timestamp(now - timedelta(days=30))
        end_text = jd_timestamp(now + timedelta(seconds=1))
        pages = -(-args.rows // ASC_PAGE_SIZE)
        who = {"buId": "10080001", "operatePin": ASC_OPERATOR[0], "operateNick": ASC_OPERATOR[1]}

        def bare(requests):
            start = time.perf_counter()
            for i in range(requests):
                payload = client.call(
                    ASC_QUERY_LIST,
                    {
                        **who,
                        "updateTimeBegin": start_text,
                        "updateTimeEnd": end_text,
                        "pageNumber": 1 + i % pages,
                        "pageSize": ASC_PAGE_SIZE,
                    },
                )
                check_business_result(payload, "pageResult")
            return time.perf_counter() - start

        # As for refunds: the bare requests just before and just after the sync, their mean compared.
        expected = pages + 8  # one pass by updateTime, and the empty chunks of the window
        bare_before = bare(expected)
        sandbox.clear_calls()
        start = time.perf_counter()
        run = shop_sync(
            shop, kind=SyncKind.SERVICE_ORDERS, platform=JdPlatform(shop, client=client), trigger="压测"
        )
        sync_seconds = time.perf_counter() - start
        assert run.error == "", run.error
        requests = len(sandbox.calls(method=ASC_QUERY_LIST))
        assert RawRefund.objects.filter(shop=shop).count() == args.rows
        bare_after = bare(requests)
        bare_seconds = (bare_before * requests / expected + bare_after) / 2

    print(f"service orders:        {args.rows:,}  (JOS latency {args.latency_ms} ms)")
    print(f"page requests:         {requests} (page size {ASC_PAGE_SIZE})")
    print(f"full sync:             {sync_seconds:.2f} s  ({args.rows / sync_seconds:,.0f} rows/s)")
    print(
        f"bare signed requests:  {bare_seconds:.2f} s  ({args.rows / bare_seconds:,.0f} rows/s; "
        f"before the sync {bare_before * requests / expected:.2f} s, after {bare_after:.2f} s)"
    )
    print(f"ratio sync / bare:     {sync_seconds / bare_seconds:.2f}x  (goal <= 1.15x)")


if __name__ == "__main__":
    main()
