"""Raw refund changelist at 10,000 and at 1,000,000 slips (PostgreSQL).

Run: `.venv/bin/python bench/admin_list.py` (uses $BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/erp_bench, created if missing and emptied). Prints, per size and
page, the median server time of the page over several requests and the number of SQL queries.
Goal: page time at 1M within 2x of 10k, identical query count.
"""

import statistics
import time

from common import setup_django

setup_django("erp_bench")
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

PAGES = {
    "first page": {},
    "writeback 未回传": {"writeback_status__exact": "0"},
    "writeback 回传失败": {"writeback_status__exact": "3"},
    "type 退款 + 申请退款": {"refund_type__exact": "1", "platform_status__exact": "2"},
    "type 换货": {"refund_type__exact": "3"},
    "platform 取消退款": {"platform_status__exact": "1"},
    "自动回传 回传失败": {"auto_decision__exact": "failed"},
    "search refund_no": {"q": "B000000777"},
    # Prefix search: the beginning of a number (refund_no, tid, oid by prefix; buyer exact).
    "search refund_no prefix": {"q": "B00000077"},
}


def fill_to(total):
    """Bulk insert with generate_series: the mix of types/statuses/reasons is spread evenly."""
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM refunds_rawrefund")
        have = cur.fetchone()[0]
        if have >= total:
            return
        cur.execute("SELECT id FROM orders_shop ORDER BY id")
        shops = [r[0] for r in cur.fetchall()]
        cur.execute(
            """
            INSERT INTO refunds_rawrefund (shop_id, refund_no, tid, oid, refund_type, platform_status,
                platform_status_code, reason, description, refund_amount, num, buyer_nick, apply_time,
                writeback_status, writeback_message, writeback_attempts, attention, inbound_num,
                auto_decision, auto_decision_reason, keyword_warning, return_logistics_company, return_logistics_no,
                created_at, updated_at)
            SELECT (ARRAY[%s, %s])[1 + g %% 2], 'B' || lpad(g::text, 9, '0'), 'T' || (g / 2), 'O' || g,
                1 + g %% 4, (ARRAY[1,2,3,4,5,7])[1 + (g / 4) %% 6], '', (ARRAY['不想要了','拍错/多拍','商品质量问题',
                '7天无理由退货','未按约定时间发货'])[1 + g %% 5], '', 99.00, 1, 'buyer' || (g %% 50000),
                now() - (g || ' seconds')::interval, (ARRAY[0,2,2,2,2,2,2,2,2,3])[1 + g %% 10], '', 0, '', 0,
                (ARRAY['','','','','','','','succeeded','not_sent','failed'])[1 + (g / 10) %% 10], '',
                '', '', '', now(), now()
            FROM generate_series(%s, %s) AS g
            """,
            [shops[0], shops[1], have + 1, total],
        )
        cur.execute("ANALYZE refunds_rawrefund")


def time_pages(client, label):
    for name, params in PAGES.items():
        client.get("/admin/refunds/rawrefund/", params)  # warm
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                response = client.get("/admin/refunds/rawrefund/", params)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200
        print(
            f"{label:>10} | {name:<22} | {statistics.median(samples) * 1000:8.1f} ms | {len(queries):3d} queries"
        )


def main():
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE refunds_rawrefund, erp_aftersales_event RESTART IDENTITY CASCADE")
    from erp_aftersales.demo import _shop
    from sa_sync.demo_shops import DEMO_SHOPS

    for spec in DEMO_SHOPS:
        _shop(spec)
    user, _ = get_user_model().objects.get_or_create(username="bench_cs", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="客服"))
    client = Client()
    client.force_login(user)
    for total in (10_000, 1_000_000):
        start = time.perf_counter()
        fill_to(total)
        print(f"filled {total:,} slips in {time.perf_counter() - start:.1f} s")
        time_pages(client, f"{total:,}")


if __name__ == "__main__":
    main()
