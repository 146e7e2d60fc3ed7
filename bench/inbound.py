"""入库审核 on PostgreSQL: audits per second, and what the arrival check costs on top of the audit.

Run: `.venv/bin/python bench/inbound.py [--audits 10000]` (uses $BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/erp_bench_inbound, created if missing and emptied).

Two sets of `--audits` return slips, each of one line ×1 on its own order, recorded and waiting for
the audit:
- "with the arrival check": the line has a 退货 + 等待收货 raw refund slip of num 2 in a 全部到货 shop,
  so every audit locks it, sums the line's audited good quantity, stores it on the slip and decides
  (1/2 arrived: not sent; no JD call, the writeback itself is bench/writeback.py's business);
- "audit alone": the same slips with no raw refund slip on their lines.
Goal: the check adds ≤ 30% to the audit.
"""

import argparse
import time

from common import setup_django

setup_django("erp_bench_inbound")
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from orders.models import ArrivalRule, Order, OrderLine, OrderStatus, Shop  # noqa: E402
from refunds.models import PlatformStatus, RawRefund, RefundType  # noqa: E402
from returns.models import InboundLine, ReturnInbound, ReturnLine, ReturnSlip, ReturnStatus  # noqa: E402
from returns.services import return_inbound_audit  # noqa: E402


def make(shop, count, start, with_raw_refund):
    orders = Order.objects.bulk_create(
        [
            Order(shop=shop, tid=str(9_300_000_000 + start + n), status=OrderStatus.COMPLETED)
            for n in range(count)
        ]
    )
    lines = OrderLine.objects.bulk_create(
        [OrderLine(order=o, shop=shop, oid=f"{o.tid}-1", goods_name="压测货品", num=2) for o in orders]
    )
    if with_raw_refund:
        RawRefund.objects.bulk_create(
            [
                RawRefund(
                    shop=shop,
                    refund_no=str(8_300_000_000 + start + n),
                    tid=line.order.tid,
                    oid=line.oid,
                    order=line.order,
                    order_line=line,
                    refund_type=RefundType.RETURN,
                    platform_status=PlatformStatus.AWAITING_RECEIPT,
                    num=2,
                )
                for n, line in enumerate(lines)
            ]
        )
    slips = ReturnSlip.objects.bulk_create(
        [ReturnSlip(shop=shop, order=line.order, status=ReturnStatus.AWAITING_INBOUND) for line in lines]
    )
    return_lines = ReturnLine.objects.bulk_create(
        [ReturnLine(return_slip=s, order_line=line, quantity=1) for s, line in zip(slips, lines, strict=True)]
    )
    inbounds = ReturnInbound.objects.bulk_create([ReturnInbound(return_slip=s) for s in slips])
    InboundLine.objects.bulk_create(
        [
            InboundLine(inbound=i, return_line=rl, good_quantity=1)
            for i, rl in zip(inbounds, return_lines, strict=True)
        ]
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return [s.pk for s in slips]


def run(ids):
    start = time.perf_counter()
    for slip_id in ids:
        result = return_inbound_audit(slip_id, by="压测")
        assert result.completed and not result.writeback_results
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--audits", type=int, default=10_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE returns_inboundline, returns_returninbound, returns_returnline, returns_returnslip, "
            "refunds_writebackattempt, refunds_rawrefund, orders_orderline, orders_order, erp_aftersales_event "
            "RESTART IDENTITY CASCADE"
        )
    shop, _ = Shop.objects.update_or_create(
        shop_no="BENCH-INBOUND", defaults={"name": "压测店铺", "arrival_rule": ArrivalRule.FULL}
    )
    checked = make(shop, args.audits, 0, with_raw_refund=True)
    alone = make(shop, args.audits, args.audits, with_raw_refund=False)
    # Interleave halves so neither set gets the colder cache.
    half = args.audits // 2
    t_alone = run(alone[:half])
    t_checked = run(checked[:half])
    t_alone += run(alone[half:])
    t_checked += run(checked[half:])
    n = args.audits
    print(f"audits per set: {n}")
    print(f"audit alone:              {n / t_alone:8.1f} audits/s  ({1000 * t_alone / n:.2f} ms each)")
    print(f"with the arrival check:   {n / t_checked:8.1f} audits/s  ({1000 * t_checked / n:.2f} ms each)")
    print(f"the check adds:           {100 * (t_checked - t_alone) / t_alone:8.1f} %")
    assert RawRefund.objects.filter(inbound_num=1).count() == n


if __name__ == "__main__":
    main()
