"""The back office in a real chromium at 1440 px: each main page with its key column in view, the
rules page's copy dialog and 立即运行一次, 导出Excel, and the 工作台. Screenshots go to
tests/browser/screenshots/ (git-ignored) for a person to look at."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from orders.models import InterceptionStatus, OrderStatus
from refunds.models import RawRefund, WritebackStatus
from sa_sync import auto_writeback
from sa_sync.models import AutoWritebackRule, AutoWritebackRun

from ..conftest import PASSWORD, make_user
from ..factories import OrderLineFactory, RawRefundFactory, ShopFactory
from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).parent / "screenshots"
WIDTH = 1440


def export_button(page):
    """The theme turns the list's object-tools links into buttons beside the actions."""
    return page.locator(".actions button").filter(has_text="导出Excel")


def workbook_rows(download):
    data = io.BytesIO(Path(download.path()).read_bytes())
    return list(load_workbook(data, read_only=True).active.iter_rows(values_only=True))


def shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.fixture
def wide(page):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    return page


def content_width(page, screen=WIDTH):
    """How wide a page is inside the theme's shell at 1440 px: the tab's frame, beside the menu."""
    page.set_viewport_size({"width": screen, "height": 900})
    page.goto(f"{page.base_url}/admin/")
    frame = page.locator("iframe").first
    expect(frame).to_be_visible()
    return int(frame.bounding_box()["width"])


def fully_visible(page, locator, width):
    box = locator.bounding_box()
    assert box is not None, "not rendered"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)


def slips_for_lists(shop, n=12):
    slips = []
    for i in range(n):
        slip = RawRefundFactory(
            order_line__order__shop=shop,
            apply_time=timezone.now() - timedelta(hours=i),
            reason="商品与描述不符",
            buyer_nick=f"jd_buyer_{i:08d}",
        )
        slips.append(slip)
    RawRefund.objects.filter(pk=slips[0].pk).update(
        writeback_status=WritebackStatus.FAILED,
        writeback_message="订单已发货，无法回传取消发货成功（仓库已出库，请联系买家拒收）",
        attention="拦截失败：订单已发货",
    )
    return slips


def test_main_pages_fit_1440_with_their_key_columns(wide, django_user_model, live_server):
    page = wide
    shop = ShopFactory(name="京东旗舰店（演示）")
    slips_for_lists(shop)
    pending = OrderLineFactory(
        order__shop=shop,
        order__status=OrderStatus.IN_WAREHOUSE,
        interception_status=InterceptionStatus.PENDING,
        intercept_num=1,
    )
    RawRefundFactory(order_line=pending, apply_time=timezone.now() - timedelta(hours=5))
    admin = make_user(django_user_model, "admin_pages", None, is_superuser=True)
    login(page, admin.username, PASSWORD)
    width = content_width(page)
    shot(page, "00-shell-dashboard")
    page.set_viewport_size({"width": width, "height": 900})  # the page as the shell's tab shows it
    checks = [
        ("/admin/refunds/rawrefund/", ["退款回传状态", "系统订单状态", "回传结果"], "01-slip-list"),
        ("/admin/orders/order/", ["订单状态", "实付金额"], "02-order-list"),
        ("/admin/orders/pendinginterception/", ["申请时间", "已等待", "操作"], "03-worklist"),
        ("/admin/returns/returnslip/", ["状态"], "04-return-list"),
    ]
    for path, headers, name in checks:
        page.goto(f"{page.base_url}{path}")
        shot(page, name)  # first: a failing page is the one to look at
        for header in headers:
            fully_visible(page, page.locator("#result_list thead th").filter(has_text=header).first, width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, path
    # The slip's own page and the rules page.
    slip = RawRefund.objects.order_by("pk").first()
    page.goto(f"{page.base_url}/admin/refunds/rawrefund/{slip.pk}/change/")
    fully_visible(page, page.locator("#slip-writeback button"), width)
    shot(page, "05-slip-page")
    page.goto(f"{page.base_url}/admin/sa_sync/autowritebackrule/?shop={shop.pk}")
    label = page.locator("#rule-form th label").first
    expect(label).to_be_visible()
    # Labels on one line: one line of text is about one line-height high.
    box = label.bounding_box()
    assert box["height"] < 30, box
    shot(page, "06-rules-page")


@pytest.mark.parametrize("screen", [1366, 1920])
def test_slip_list_fits_smaller_and_larger_screens(page, django_user_model, screen):
    slips_for_lists(ShopFactory(name="京东专营店（演示）"))
    cs = make_user(django_user_model, f"cs_{screen}", "客服")
    login(page, cs.username, PASSWORD)
    width = content_width(page, screen)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{page.base_url}/admin/refunds/rawrefund/")
    shot(page, f"11-slip-list-{screen}")
    for header in ("退款回传状态", "系统订单状态", "回传结果"):
        fully_visible(page, page.locator("#result_list thead th").filter(has_text=header).first, width)
    # The last column's text is not cut off by the page's frame either.
    cell = page.locator("#result_list td.field-writeback_result").first
    box, frame = cell.bounding_box(), page.locator("#changelist").bounding_box()
    assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, (box, frame)


def test_copy_dialog_asks_which_shops_and_about_the_switch_then_copies(page, django_user_model):
    source, other, third = ShopFactory(name="旗舰店"), ShopFactory(name="专营店"), ShopFactory(name="奥莱店")
    auto_writeback.auto_writeback_rule_save(source, {"enabled": True, "batch_size": 20}, by="测试")
    ops = make_user(django_user_model, "ops_copy", "运营")
    login(page, ops.username, PASSWORD, next_url=f"/admin/sa_sync/autowritebackrule/?shop={source.pk}")
    page.locator("#copy-open").click()
    dialog = page.locator("#copy-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#copy-confirm")).to_be_disabled()  # nothing chosen yet
    dialog.get_by_label("专营店").check()
    expect(page.locator("#copy-summary")).to_contain_text("将覆盖 1 个店铺的规则：专营店")
    expect(page.locator("#copy-summary")).to_contain_text("开启开关保持不变")
    shot(page, "07-copy-dialog")
    page.locator("#copy-confirm").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("各店铺的开启开关保持不变")
    rule = AutoWritebackRule.objects.get(shop=other)
    assert (rule.enabled, rule.batch_size) == (False, 20)
    assert not AutoWritebackRule.objects.filter(shop=third).exists()
    # Cancel leaves everything as it was.
    page.locator("#copy-open").click()
    dialog.get_by_label("奥莱店").check()
    dialog.locator("[data-close]").click()
    expect(dialog).to_be_hidden()
    assert not AutoWritebackRule.objects.filter(shop=third).exists()


def test_run_now_shows_the_run_record_with_each_slip(page, sandbox, jd, django_user_model):
    sendable = RawRefundFactory(order_line__order__shop=jd)
    shipped = RawRefundFactory(order_line__order__shop=jd, order_line__order__status=OrderStatus.SHIPPED)
    sandbox.seed_refunds(
        jd.app_key,
        [{"id": int(s.refund_no), "orderId": int(s.tid), "status": 0} for s in (sendable, shipped)],
    )
    auto_writeback.auto_writeback_rule_save(jd, {"enabled": False}, by="测试")
    ops = make_user(django_user_model, "ops_run", "运营")
    login(page, ops.username, PASSWORD, next_url=f"/admin/sa_sync/autowritebackrule/?shop={jd.pk}")
    page.locator("#run-now-open").click()
    expect(page.locator("#run-now-dialog")).to_contain_text("规则当前未开启，本次仍会真实回传")
    page.locator("#run-now-confirm").click()
    page.wait_for_url("**/admin/sa_sync/autowritebackrun/*/change/")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("发送 1 条（成功 1，失败 0）")
    expect(page.locator("#run-sent")).to_contain_text(sendable.refund_no)
    expect(page.locator("#run-not-sent")).to_contain_text(shipped.refund_no)
    expect(page.locator("#run-not-sent")).to_contain_text("订单已发货")
    shot(page, "08-run-record")
    assert AutoWritebackRun.objects.get().started_by == ops.username


def test_export_downloads_the_filtered_list(page, django_user_model):
    shop = ShopFactory()
    slips = slips_for_lists(shop, n=5)
    cs = make_user(django_user_model, "cs_export", "客服")
    login(page, cs.username, PASSWORD, next_url="/admin/refunds/rawrefund/?view=failed")
    with page.expect_download() as download:
        export_button(page).click()
    assert download.value.suggested_filename.endswith(".xlsx")
    rows = workbook_rows(download.value)
    assert rows[0][0] == "平台退款单号" and [r[0] for r in rows[1:]] == [slips[0].refund_no]


def test_background_export_shows_progress_then_the_download(page, django_user_model, settings):
    from erp_aftersales.celery import app

    settings.EXPORT_BACKGROUND_OVER = 3
    settings.EXPORT_DIR = settings.VAR_DIR / "test-exports-browser"
    slips_for_lists(ShopFactory(), n=6)
    cs = make_user(django_user_model, "cs_export_bg", "客服")
    app.conf.update(task_always_eager=True)
    try:
        login(page, cs.username, PASSWORD)
        export_button(page).click()
        page.wait_for_url("**/admin/export/job/*/")
        expect(page.locator("#export-status")).to_have_text("已完成")
        expect(page.locator("#export-download")).to_have_text("下载 Excel（6 行）")
        shot(page, "09-export-job")
        with page.expect_download() as download:
            page.locator("#export-download").click()
        rows = workbook_rows(download.value)
        assert len(rows) == 7
    finally:
        app.conf.update(task_always_eager=False)


def test_dashboard_is_the_home_tab_with_figures_and_chart(wide, django_user_model):
    page = wide
    shop = ShopFactory(name="京东旗舰店（演示）")
    slips_for_lists(shop, n=4)
    cs = make_user(django_user_model, "cs_dash", "客服")
    login(page, cs.username, PASSWORD)
    page.goto(f"{page.base_url}/admin/")
    home = page.frame_locator("iframe").first
    expect(home.locator("#dashboard-shops")).to_be_visible()
    row = home.locator("#dashboard-shops tbody tr").filter(has_text="京东旗舰店（演示）")
    expect(row.locator('[data-figure="failed"]')).to_have_text("1")
    expect(row.locator('[data-figure="sendable"]')).to_have_text("3")
    expect(home.locator("#writeback-chart")).to_be_visible()
    expect(home.locator("#writeback-chart g[data-day]")).to_have_count(30)
    shot(page, "10-dashboard")
    # A figure opens the list it counts.
    row.locator('[data-figure="failed"]').click()
    expect(home.locator("#result_list tbody tr")).to_have_count(1)
