"""建退款单 on PostgreSQL: refund slips (with their amounts) for N raw refund slips, per second, against
a bare bulk insert of the same rows.

Run: `.venv/bin/python bench/refund_slips.py [--slips 10000]` (uses $BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/erp_bench_refund_slips, created if missing and emptied).

N orders of two lines (100.00 + 60.00), half of them with a 满150减20 covering both lines, half of the
shops' strategy 按比例分摊 and half 重算优惠; one 退货 raw refund slip per order on its first line.
- "service": `refund_slips_create_for_raw_refunds` over all N (chunks of 500: locks, the
  one-open-per-line check, the amount with its arithmetic, slips, lines and 操作日志 in bulk);
- "one at a time": `refund_slip_create(raw_refund_id=…)` for a sample (what a click costs);
- "bare insert": `bulk_create` of the same slip and line rows (amounts already known), same chunks.
Goal: the service ≤ 3× the bare insert.
"""

import argparse
import time
from decimal import Decimal

from common import setup_django

setup_django("erp_bench_refund_slips")
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from orders.models import Order, OrderLine, OrderPromotion, OrderStatus, Shop  # noqa: E402
from refund_slips.models import (  # noqa: E402
    RefundSlip,
    RefundSlipLine,
    RefundSource,
    RefundStrategy,
    ShopRefundSettings,
)
from refund_slips.services import refund_slip_create, refund_slips_create_for_raw_refunds  # noqa: E402
from refunds.models import PlatformStatus, RawRefund, RefundType  # noqa: E402

CHUNK = 500


def make(shop, count, start):
    orders = Order.objects.bulk_create(
        [
            Order(
                shop=shop,
                tid=str(9_500_000_000 + start + n),
                status=OrderStatus.COMPLETED,
                paid=Decimal("140.00"),
            )
            for n in range(count)
        ]
    )
    lines = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=o, shop=shop, oid=f"{o.tid}-{i}", goods_name=f"压测货品{i}", num=1, price=p, paid=p
            )
            for o in orders
            for i, p in ((1, Decimal("100.00")), (2, Decimal("60.00")))
        ]
    )
    OrderPromotion.objects.bulk_create(
        [
            OrderPromotion(
                order=o,
                name="满减优惠",
                threshold=Decimal("150"),
                discount=Decimal("20"),
                oids=[f"{o.tid}-1", f"{o.tid}-2"],
            )
            for n, o in enumerate(orders)
            if n % 2 == 0
        ]
    )
    raws = RawRefund.objects.bulk_create(
        [
            RawRefund(
                shop=shop,
                refund_no=str(8_500_000_000 + start + n),
                tid=line.order.tid,
                oid=line.oid,
                order=line.order,
                order_line=line,
                refund_type=RefundType.RETURN,
                platform_status=PlatformStatus.AWAITING_RECEIPT,
                refund_amount=Decimal("90.00"),
                num=1,
            )
            for n, line in enumerate(lines[0::2])
        ]
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return [r.pk for r in raws]


def bare_insert(rows):
    """The same slips and lines, amounts known: bulk_create in the service's chunks."""
    start = time.perf_counter()
    for i in range(0, len(rows), CHUNK):
        part = rows[i : i + CHUNK]
        with transaction.atomic():
            slips = RefundSlip.objects.bulk_create([RefundSlip(**slip) for slip, _ in part])
            RefundSlipLine.objects.bulk_create(
                [RefundSlipLine(refund_slip=s, **line) for s, (_, line) in zip(slips, part, strict=True)]
            )
    return time.perf_counter() - start


def clear():
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM refund_slips_refundslipline; DELETE FROM refund_slips_refundslip; "
            "DELETE FROM erp_aftersales_event WHERE action = '创建退款单'"
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slips", type=int, default=10_000)
    parser.add_argument("--one-at-a-time", type=int, default=1_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE refund_slips_refundslipline, refund_slips_refundslip, refunds_rawrefund, "
            "orders_orderpromotion, orders_orderline, orders_order, erp_aftersales_event RESTART IDENTITY CASCADE"
        )
    shops = []
    for n, strategy in enumerate((RefundStrategy.PROPORTIONAL, RefundStrategy.RECOMPUTE)):
        shop, _ = Shop.objects.update_or_create(
            shop_no=f"BENCH-REFUND-{n}", defaults={"name": f"压测店铺{n}"}
        )
        ShopRefundSettings.objects.update_or_create(shop=shop, defaults={"strategy": strategy})
        shops.append(shop)
    half = args.slips // 2
    ids = make(shops[0], half, 0) + make(shops[1], args.slips - half, half)

    start = time.perf_counter()
    result = refund_slips_create_for_raw_refunds(ids, by="压测")
    t_service = time.perf_counter() - start
    assert len(result.created) == args.slips and not result.refused, result.refused
    amounts = sorted({str(s.amount) for s in result.created})
    rows = [
        (
            {
                "shop_id": s.shop_id,
                "order_id": s.order_id,
                "raw_refund_id": s.raw_refund_id,
                "source": RefundSource.RAW_REFUND,
                "reason": s.reason,
                "strategy": s.strategy,
                "computed_amount": s.computed_amount,
                "amount": s.amount,
                "quote": s.quote,
                "created_by_name": s.created_by_name,
            },
            {"order_line_id": s.raw_refund.order_line_id, "quantity": 1, "amount": s.amount},
        )
        for s in RefundSlip.objects.select_related("raw_refund").order_by("pk")
    ]
    clear()
    t_bare = bare_insert(rows)
    clear()
    sample = ids[: args.one_at_a_time]
    start = time.perf_counter()
    for raw_id in sample:
        refund_slip_create(raw_refund_id=raw_id, by="压测")
    t_one = time.perf_counter() - start

    n = args.slips
    print(f"raw refund slips: {n} (amounts seen: {', '.join(amounts)})")
    print(f"service, batch:        {n / t_service:9.1f} slips/s  ({t_service:.2f} s)")
    print(f"bare bulk insert:      {n / t_bare:9.1f} slips/s  ({t_bare:.2f} s)")
    print(f"service / bare:        {t_service / t_bare:9.2f} ×  (goal ≤ 3×)")
    print(
        f"one at a time ({len(sample)}):  {len(sample) / t_one:9.1f} slips/s  ({1000 * t_one / len(sample):.2f} ms each)"
    )


if __name__ == "__main__":
    main()
