"""May this slip be written back" has one definition in two forms (refunds.models): the per-slip
refusal in words and the query. The right-click, the rule and its preview must never disagree, so
every combination that matters is built here and both forms are asked."""

import itertools

import pytest

from orders.models import ArrivalRule, InterceptionStatus, OrderLine, OrderStatus
from refunds.models import PlatformStatus, RawRefund, RefundType
from sa_sync import selectors
from sa_sync.models import AutoWritebackRule

from .factories import OrderFactory, OrderLineFactory, RawRefundFactory, ShopFactory

pytestmark = pytest.mark.django_db

ORDER_STATUSES = [
    OrderStatus.CANCELLED,
    OrderStatus.AWAITING_PAYMENT,
    OrderStatus.AWAITING_FINANCE_REVIEW,
    OrderStatus.IN_WAREHOUSE,
    OrderStatus.SHIPPED,
]
# JD's last known state, cycled over the matrix: never read, states that act, and 7/8/10 that do not.
JD_CODES = ["", "0", "1", "5", "7", "8", "10", "2", "11"]
KINDS = [
    (RefundType.REFUND, PlatformStatus.APPLIED),
    (RefundType.RETURN, PlatformStatus.AWAITING_RECEIPT),
    (RefundType.RETURN, PlatformStatus.AWAITING_RETURN),
    (RefundType.REFUND, PlatformStatus.REFUNDED),
]


def build_matrix():
    slips = []
    shops = {
        (rule, enabled): ShopFactory(arrival_rule=rule, sa_writeback_enabled=enabled)
        for rule, enabled in itertools.product(ArrivalRule.values, [True, False])
    }
    combinations = itertools.product(
        shops.values(), ORDER_STATUSES, InterceptionStatus.values, KINDS, [0, 1, 2]
    )
    for i, (shop, status, interception, (refund_type, platform_status), inbound) in enumerate(combinations):
        line = OrderLineFactory(order=OrderFactory(shop=shop, status=status))
        OrderLine.objects.filter(pk=line.pk).update(interception_status=interception)
        slips.append(
            RawRefundFactory(
                order_line=line,
                refund_type=refund_type,
                platform_status=platform_status,
                num=2,
                inbound_num=inbound,
                platform_status_code=JD_CODES[i % len(JD_CODES)],
            )
        )
    # Refunds of several order lines (no line of their own), in every order status: only a cancelled
    # order lets them through.
    for status in ORDER_STATUSES:
        order = OrderFactory(shop=shops[(ArrivalRule.FULL, True)], status=status)
        slips.append(
            RawRefundFactory(
                order=order,
                shop=order.shop,
                tid=order.tid,
                order_line=None,
                oid="",
                needs_manual_interception=True,
                refund_type=RefundType.REFUND,
                platform_status=PlatformStatus.APPLIED,
                platform_status_code="0",
            )
        )
    # A slip whose order has not been downloaded yet.
    orphan = RawRefundFactory(shop=shops[(ArrivalRule.FULL, True)])
    RawRefund.objects.filter(pk=orphan.pk).update(order=None, order_line=None)
    return shops, slips + [orphan]


def test_the_query_and_the_refusal_agree_on_every_combination():
    _, slips = build_matrix()
    fresh = RawRefund.objects.select_related("shop", "order", "order_line")
    allowed = {s.pk for s in fresh.filter(pk__in=[s.pk for s in slips]) if s.writeback_refusal() is None}
    assert allowed, "the matrix must contain sendable slips, or the comparison proves nothing"
    assert len(allowed) < len(slips)
    assert set(RawRefund.objects.sendable().values_list("pk", flat=True)) == allowed


def test_the_rules_candidates_are_the_sendable_slips_of_its_shop():
    shops, _ = build_matrix()
    for shop in shops.values():
        rule = AutoWritebackRule(
            shop=shop,
            refund_types=RefundType.values,
            platform_statuses=PlatformStatus.values,
            batch_size=1000,
        )
        candidates = {s.pk for s in selectors.select_candidates(rule).slips}
        sendable = set(RawRefund.objects.sendable().filter(shop=shop).values_list("pk", flat=True))
        assert candidates == sendable, shop
