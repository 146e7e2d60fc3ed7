import pytest
from django.db import IntegrityError, transaction

from orders.models import OrderStatus, is_above_finance_review

from .factories import OrderFactory, OrderLineFactory, RawRefundFactory, ShopFactory

pytestmark = pytest.mark.django_db


def test_refund_no_unique_per_shop():
    first = RawRefundFactory(refund_no="R1")
    other_shop = ShopFactory()
    RawRefundFactory(refund_no="R1", order_line__order__shop=other_shop)  # another shop: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        RawRefundFactory(refund_no="R1", order_line__order__shop=first.shop)


def test_tid_unique_per_shop():
    order = OrderFactory(tid="T1")
    OrderFactory(tid="T1")  # another shop
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(tid="T1", shop=order.shop)


def test_oid_unique_per_shop():
    line = OrderLineFactory(oid="O1")
    OrderLineFactory(oid="O1")  # another shop
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLineFactory(oid="O1", order__shop=line.shop)


def test_status_codes_are_ordered_as_the_business_flows():
    codes = [s.value for s in OrderStatus]
    assert codes == sorted(codes)
    assert [s.label for s in OrderStatus] == [
        "已取消",
        "待付款",
        "待客审",
        "待财审",
        "已审核(仓库处理中)",
        "已发货",
        "已完成",
    ]


@pytest.mark.parametrize(
    ("status", "above"),
    [(5, False), (10, False), (30, False), (35, False), (55, True), (95, True), (110, True)],
)
def test_above_finance_review(status, above):
    assert is_above_finance_review(status) is above
    assert OrderFactory(status=status).is_above_finance_review is above


def test_orders_filter_by_status_order_in_the_database():
    for status in OrderStatus:
        OrderFactory(status=status)
    above = {
        o.status for o in type(OrderFactory()).objects.filter(status__gt=OrderStatus.AWAITING_FINANCE_REVIEW)
    }
    assert above == {55, 95, 110}


def test_shop_repr_and_str_never_show_secrets():
    shop = ShopFactory(app_secret="s3cr3t-value", access_token="tok-value")
    for text in (str(shop), repr(shop)):
        assert "s3cr3t" not in text and "tok-value" not in text
