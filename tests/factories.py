from decimal import Decimal

import factory

from orders.models import Order, OrderLine, OrderStatus, Shop
from platforms.jd.demo import OBJECT_FOR_TYPE
from refunds.models import PlatformStatus, RawRefund, RefundType


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop

    shop_no = factory.Sequence(lambda n: f"SHOP{n:03d}")
    name = factory.Sequence(lambda n: f"测试店铺{n}")
    app_key = factory.Sequence(lambda n: f"APPKEY{n:04d}")
    app_secret = factory.Sequence(lambda n: f"secret-{n:04d}")
    access_token = factory.Sequence(lambda n: f"token-{n:04d}")
    vender_id = factory.Sequence(lambda n: str(10_090_000 + n))


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    shop = factory.SubFactory(ShopFactory)
    tid = factory.Sequence(lambda n: f"9{n:011d}")
    status = OrderStatus.AWAITING_CS_REVIEW
    buyer_nick = factory.Sequence(lambda n: f"buyer{n}")
    paid = Decimal("99.00")


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    shop = factory.SelfAttribute("order.shop")
    oid = factory.Sequence(lambda n: f"OID{n:08d}")
    goods_no = "TS-001"
    goods_name = "纯棉短袖T恤"
    num = 2
    price = Decimal("49.50")
    paid = Decimal("99.00")


class RawRefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RawRefund

    order_line = factory.SubFactory(OrderLineFactory)
    order = factory.SelfAttribute("order_line.order")
    shop = factory.SelfAttribute("order_line.shop")
    refund_no = factory.Sequence(lambda n: str(7_000_000_000 + n))  # numeric, as JD's ids
    platform_id = factory.SelfAttribute("refund_no")  # the JD object's own id
    # Refunds before receipt are JD refund applications; returns, exchanges, repairs and reissues
    # are after-sales service orders.
    platform_object = factory.LazyAttribute(lambda o: OBJECT_FOR_TYPE[RefundType(o.refund_type)])
    tid = factory.SelfAttribute("order.tid")
    oid = factory.SelfAttribute("order_line.oid")
    refund_type = RefundType.REFUND
    platform_status = PlatformStatus.APPLIED
    reason = "不想要了"
    refund_amount = Decimal("99.00")
    num = 1
    buyer_nick = factory.SelfAttribute("order.buyer_nick")
