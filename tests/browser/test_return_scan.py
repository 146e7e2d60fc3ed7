"""The warehouse's scan-and-audit page in a real chromium: type the waybill, record what arrived,
入库审核, and 退货入仓 reaches the SA sandbox."""

import pytest
from playwright.sync_api import expect

from orders.models import OrderStatus
from platforms.jd.demo import jd_refund_item
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from returns.models import ReturnSlip, ReturnStatus
from returns.services import return_slip_create

from ..conftest import PASSWORD, make_user
from ..factories import OrderFactory, OrderLineFactory, RawRefundFactory
from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WRITEBACK_METHOD = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


def return_waiting_for_warehouse(sandbox, shop, waybill, num=2):
    line = OrderLineFactory(order=OrderFactory(shop=shop, status=OrderStatus.COMPLETED), num=num)
    raw = RawRefundFactory(
        order_line=line,
        refund_type=RefundType.RETURN,
        platform_status=PlatformStatus.AWAITING_RECEIPT,
        num=num,
    )
    sandbox.seed_refunds(shop.app_key, [jd_refund_item(raw)])
    slip = return_slip_create(by="测试", raw_refund=raw, logistics_no=waybill, approve=True)
    return raw, slip


def login_warehouse(page, username):
    login(page, username, PASSWORD, next_url="/admin/returns/returnslip/scan/")


def test_scan_record_and_audit(page, sandbox, jd, django_user_model):
    user = make_user(django_user_model, "wh_browser", "仓库")
    raw, slip = return_waiting_for_warehouse(sandbox, jd, "SF7777000001")
    short, short_slip = return_waiting_for_warehouse(sandbox, jd, "SF7777000002")

    login_warehouse(page, user.username)
    page.fill("#scan-input", "SF7777000001")
    page.press("#scan-input", "Enter")
    form = page.locator(f"#slip-{slip.pk} form.audit-form")
    expect(form).to_be_visible()
    line = slip.lines.get()
    expect(form.locator(f'input[name="good-{line.pk}"]')).to_have_value("2")
    form.get_by_role("button", name="入库审核").click()
    expect(page.locator(".messagelist")).to_contain_text("入库审核完成")
    expect(page.locator(".messagelist")).to_contain_text(f"原始退款单 {raw.refund_no}：已回传退货入仓")
    assert RawRefund.objects.get(pk=raw.pk).writeback_status == WritebackStatus.SUCCEEDED
    assert [c["params"]["refId"] for c in sandbox.calls(method=WRITEBACK_METHOD)] == [int(raw.refund_no)]

    # One short: the slip goes back to CS, nothing is sent.
    page.fill("#scan-input", "SF7777000002")
    page.press("#scan-input", "Enter")
    form = page.locator(f"#slip-{short_slip.pk} form.audit-form")
    form.locator(f'input[name="good-{short_slip.lines.get().pk}"]').fill("1")
    form.get_by_role("button", name="入库审核").click()
    expect(page.locator(".messagelist")).to_contain_text("实收与申请不符")
    assert ReturnSlip.objects.get(pk=short_slip.pk).status == ReturnStatus.AWAITING_CS
    assert len(sandbox.calls(method=WRITEBACK_METHOD)) == 1
    assert RawRefund.objects.get(pk=short.pk).writeback_status == WritebackStatus.NOT_SENT
