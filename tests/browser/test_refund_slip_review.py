"""A refund slip reviewed in a real chromium: CS try the amount first (试算), create the slip, add a
compensation, approve level 1; above the shop's limit the slip waits for finance, who approve level 2."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders.models import OrderPromotion, OrderStatus
from refund_slips.models import RefundSlip, RefundSlipStatus, ShopRefundSettings

from ..conftest import PASSWORD, make_user
from ..factories import OrderFactory, OrderLineFactory, ShopFactory
from .conftest import login as theme_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page, username, next_url):
    theme_login(page, username, PASSWORD, next_url)


def test_quote_create_compensate_and_two_level_review(page, django_user_model):
    make_user(django_user_model, "cs_b", "客服")
    make_user(django_user_model, "fin_b", "财务")
    shop = ShopFactory()
    ShopRefundSettings.objects.create(shop=shop, strategy="recompute", level1_limit=Decimal("50.00"))
    order = OrderFactory(shop=shop, status=OrderStatus.COMPLETED, paid=Decimal("180.00"), tid="700000000001")
    lines = [
        OrderLineFactory(order=order, goods_name=name, num=1, price=Decimal(p), paid=Decimal(p))
        for name, p in (("A", "100.00"), ("B", "60.00"), ("C", "40.00"))
    ]
    OrderPromotion.objects.create(
        order=order,
        name="满减优惠",
        threshold=Decimal("150"),
        discount=Decimal("20"),
        oids=[x.oid for x in lines],
    )

    create_url = "/admin/refund_slips/refundslip/create/"
    login(page, "cs_b", create_url)
    page.fill("input[name=tid]", order.tid)
    page.click("#find-order button")
    page.fill(f"input[name=qty-{lines[1].pk}]", "1")
    page.click("button[name=quote]")
    expect(page.locator("#quote")).to_contain_text("应退 40.00 元")
    expect(page.locator("#quote")).to_contain_text("扣除优惠 20.00 元：60.00 − 20.00 = 40.00 元")
    assert not RefundSlip.objects.exists()

    page.fill(f"input[name=qty-{lines[1].pk}]", "1")
    page.click("button[name=create]")
    expect(page.locator(".messagelist")).to_contain_text("应退 40.00 元")
    slip = RefundSlip.objects.get()

    page.select_option("#refund-adjust select[name=kind]", "compensation")
    page.fill("#refund-adjust input[name=amount]", "15.00")
    page.fill("#refund-adjust input[name=reason]", "发货超时补偿")
    page.click("#refund-adjust [data-action=adjust]")
    expect(page.locator(".messagelist")).to_contain_text("金额已调整")

    page.click("#refund-actions [data-action=approve]")
    expect(page.locator(".messagelist")).to_contain_text("超过一级审核上限 50.00 元，待财务二级审核")
    assert not page.locator("#refund-actions [data-action=approve]").count()  # not twice by the same person

    page.context.clear_cookies()
    login(page, "fin_b", f"/admin/refund_slips/refundslip/{slip.pk}/change/")
    page.click("#refund-actions [data-action=approve]")
    expect(page.locator(".messagelist")).to_contain_text("二级审核通过，待退款")
    slip.refresh_from_db()
    assert (slip.status, slip.amount, slip.level1_by_name, slip.level2_by_name) == (
        RefundSlipStatus.AWAITING_REFUND,
        Decimal("55.00"),
        "cs_b",
        "fin_b",
    )
