"""Auto-writeback: candidate selection at 10,000 and 1,000,000 slips, and a full run of 50 (PostgreSQL).

Run: `.venv/bin/python bench/auto_writeback.py` (uses $BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/erp_bench_aw, created if missing and emptied).

1. Selection: slips bulk-inserted with generate_series, 90% already written back (回传成功), 5% 未回传,
   5% 回传失败; every type × platform status, five reasons, orders spread over 待客审…已完成. Times
   `selectors.select_candidates` (the run's selection: ids from the index-ordered parts, the batch
   of 50 read back and checked with writeback_refusal per slip) for the default rule, and the capped
   match count the run records: medians of 21 after a warm-up, plus the plan of the 未回传 part.
   Goal: time at 1M within 2× of 10k.
2. A full run of 50 against a sandbox subprocess answering with 20 ms latency: time per run (the
   run's own selection, claims, 50 signed calls, records), median of 5 runs, with the JOS rate limit
   as configured (default 20/s) and with it off.
"""

import statistics
import time

from common import setup_django

setup_django("erp_bench_aw")
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from orders.models import Shop  # noqa: E402
from refunds.models import RawRefund  # noqa: E402
from sa_sync import auto_writeback, selectors  # noqa: E402
from sandbox.testing import start_sandbox  # noqa: E402


def fill_to(shops, total):
    """Order g and slip g share the number g (ids restart at 1), so the slip points at its order."""
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM refunds_rawrefund")
        have = cur.fetchone()[0]
        if have >= total:
            return
        cur.execute(
            """
            INSERT INTO orders_order (shop_id, tid, status, pay_type, buyer_nick, receiver_name,
                receiver_mobile, receiver_address, goods_amount, discount, post_amount, paid,
                platform_status, created_at, updated_at)
            SELECT (ARRAY[%s, %s])[1 + g %% 2], 'T' || g, (ARRAY[30,35,55,95,110])[1 + (g / 3) %% 5],
                'online', '', '', '', '', 99, 0, 0, 99, '', now(), now()
            FROM generate_series(%s, %s) AS g
            """,
            [shops[0], shops[1], have + 1, total],
        )
        cur.execute(
            """
            INSERT INTO refunds_rawrefund (shop_id, order_id, refund_no, tid, oid, refund_type, platform_status,
                platform_status_code, reason, description, refund_amount, num, buyer_nick, apply_time,
                attention, inbound_num, writeback_status, writeback_message, writeback_attempts,
                next_attempt_at, auto_decision, auto_decision_reason, keyword_warning, return_logistics_company,
                return_logistics_no, created_at, updated_at)
            SELECT (ARRAY[%s, %s])[1 + g %% 2], g, 'B' || lpad(g::text, 9, '0'), 'T' || g, 'O' || g,
                1 + g %% 4, (ARRAY[1,2,3,4,5,7])[1 + (g / 4) %% 6], '',
                (ARRAY['不想要了','拍错/多拍','商品质量问题','7天无理由退货','未按约定时间发货'])[1 + g %% 5],
                '', 99.00, 1, 'buyer' || (g %% 50000), now() - (g || ' seconds')::interval, '', 0,
                (ARRAY[0,2,2,2,2,2,2,2,2,2,3,2,2,2,2,2,2,2,2,2])[1 + (g / 7) %% 20], '', 1,
                now() + ((g %% 3 - 1) || ' hours')::interval, '', '', '', '', '', now(), now()
            FROM generate_series(%s, %s) AS g
            """,
            [shops[0], shops[1], have + 1, total],
        )
        cur.execute("ANALYZE refunds_rawrefund")
        cur.execute("ANALYZE orders_order")


def median_ms(func, times=21):
    func()  # warm
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        result = func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000, result


def time_selection(rule, label):
    ms, selection = median_ms(lambda: selectors.select_candidates(rule))
    count_ms, matched = median_ms(lambda: selectors.count_matches(rule))
    print(
        f"{label:>10} | selection {ms:7.2f} ms (batch {len(selection.slips)}) | "
        f"match count {count_ms:7.2f} ms (matched {matched}, capped at {selectors.MATCH_COUNT_CAP})"
    )
    return ms, count_ms


def plan(rule):
    part = selectors.candidate_parts(rule)[0]
    qs = part.order_by("id").values_list("id", flat=True)[: rule.batch_size + 1]
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(r[0] for r in cur.fetchall())


def bench_runs(shop, sandbox, runs=5, per_run=50, rate_limit=None):
    from tests.factories import OrderFactory, OrderLineFactory, RawRefundFactory

    if rate_limit is not None:
        settings.JOS_RATE_LIMIT_PER_SECOND = rate_limit
    start_no = 9_000_000_000 + RawRefund.objects.filter(shop=shop).count()
    seeded = []
    for n in range(runs * per_run):
        number = start_no + n
        order = OrderFactory(shop=shop, tid=str(880000000000 + number), status=30)
        line = OrderLineFactory(order=order, shop=shop)
        RawRefundFactory(order_line=line, refund_no=str(number), reason="不想要了")
        seeded.append({"id": number, "orderId": 880000000000 + number, "status": 0})
    sandbox.seed_refunds(shop.app_key, seeded)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run = auto_writeback.auto_writeback_run(shop.pk)
        samples.append(time.perf_counter() - start)
        assert run.sent == per_run and run.succeeded == per_run, (run.sent, run.succeeded, run.failures[:3])
    return samples


def main():
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE refunds_rawrefund, orders_order, orders_orderline, orders_shop, erp_aftersales_event, "
            "refunds_autowritebackrun, refunds_autowritebackrule RESTART IDENTITY CASCADE"
        )
    shops = [
        Shop.objects.create(
            shop_no=f"BENCH-{i}",
            name=f"压测店铺{i}",
            app_key=f"BK{i}",
            app_secret=f"BS{i}",
            access_token=f"BT{i}",
        )
        for i in (1, 2)
    ]
    rule, _ = auto_writeback.auto_writeback_rule_save(shops[0], {"enabled": True}, by="bench")
    figures = {}
    for total in (10_000, 1_000_000):
        start = time.perf_counter()
        fill_to([s.pk for s in shops], total)
        print(f"filled {total:,} slips in {time.perf_counter() - start:.1f} s")
        rule.refresh_from_db()
        figures[total] = time_selection(rule, f"{total:,}")
        print(plan(rule))
    print(
        f"ratio 1M / 10k: selection {figures[1_000_000][0] / figures[10_000][0]:.2f}x, "
        f"match count {figures[1_000_000][1] / figures[10_000][1]:.2f}x"
    )

    with start_sandbox(extra_args=["--quiet"]) as sandbox:
        settings.JOS_ENDPOINT = sandbox.jos_url
        run_shop = Shop.objects.create(
            shop_no="BENCH-RUN", name="压测回传店铺", app_key="BRK", app_secret="BRS", access_token="BRT"
        )
        sandbox.seed_shop(
            app_key="BRK", app_secret="BRS", access_token="BRT", shop_no="BENCH-RUN", name="压测回传店铺"
        )
        sandbox.set_policy("BRK", auto_refund_on=[], delay_seconds=0)
        sandbox.set_faults(latency_ms=20)
        auto_writeback.auto_writeback_rule_save(run_shop, {"enabled": True}, by="bench")
        for label, limit in [
            (f"rate limit {settings.JOS_RATE_LIMIT_PER_SECOND}/s", None),
            ("rate limit off", 0),
        ]:
            samples = bench_runs(run_shop, sandbox, rate_limit=limit)
            print(
                f"run of 50 @20 ms ({label}, concurrency {settings.WRITEBACK_CONCURRENCY}): median "
                f"{statistics.median(samples):.2f} s, min {min(samples):.2f} s, max {max(samples):.2f} s"
            )


if __name__ == "__main__":
    main()
