"""The right-click menu on the raw refund slip list (退款回传), driven in a real chromium against the
live server, with the SA sandbox playing JD over real HTTP."""

import re

import pytest
from playwright.sync_api import expect

from orders.models import OrderStatus
from refunds.models import RawRefund, WritebackStatus

from ..conftest import PASSWORD, make_user
from ..factories import RawRefundFactory
from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WRITEBACK_METHOD = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


@pytest.fixture
def cs(django_user_model, transactional_db):
    return make_user(django_user_model, "cs_browser", "客服")


def make_slips(sandbox, shop, count, shipped=()):
    """`count` refund-only slips (退款 + 申请退款) on orders at 待客审, or 已发货 for the indexes in
    `shipped`, each with its refund application on the sandbox's side."""
    slips = []
    for i in range(count):
        status = OrderStatus.SHIPPED if i in shipped else OrderStatus.AWAITING_CS_REVIEW
        slips.append(
            RawRefundFactory(
                refund_no=f"{7_100_000_001 + i}",
                order_line__order__shop=shop,
                order_line__order__tid=f"{8_100_000_001 + i}",
                order_line__order__status=status,
            )
        )
    sandbox.seed_refunds(
        shop.app_key,
        [{"id": int(s.refund_no), "orderId": int(s.tid), "status": 0, "skuId": "1"} for s in slips],
    )
    return slips


def row(page, slip):
    return page.locator("#result_list tbody tr").filter(
        has=page.locator(f'th.field-refund_no a:text-is("{slip.refund_no}")')
    )


def badge(page, slip):
    return row(page, slip).locator("td.field-writeback_status_badge span.erp-badge")


def writebacks(sandbox):
    return sandbox.calls(method=WRITEBACK_METHOD)


def sent_ref_ids(sandbox):
    return sorted(str(c["params"]["refId"]) for c in writebacks(sandbox))


def menu_item(page):
    """The menu's first choice: the selection, or the right-clicked row alone when it asks."""
    return page.locator('#writeback-menu [role=menuitem][data-action="writeback"]')


def include_item(page):
    """Shown when an unselected row is right-clicked beside a selection: the selection and the row."""
    return page.locator('#writeback-menu [role=menuitem][data-action="include"]')


def test_right_click_an_unselected_row_writes_back_that_row_alone(page, sandbox, jd, cs):
    slips = make_slips(sandbox, jd, 3)
    target = slips[1]
    login(page, cs.username, PASSWORD)
    expect(badge(page, target)).to_have_text("未回传")

    row(page, target).locator("td.field-reason").click(button="right")
    menu = page.locator("#writeback-menu")
    expect(menu).to_be_visible()
    expect(menu_item(page)).to_be_focused()
    expect(menu_item(page)).to_contain_text("1 条")
    expect(row(page, target).locator("input.action-select")).to_be_checked()
    page.screenshot(path="/tmp/writeback_menu.png")

    menu_item(page).click()

    expect(page.locator("ul.messagelist li.success")).to_have_text("操作成功：1 条已回传成功。")
    expect(page.locator("ul.messagelist li.error")).to_have_count(0)
    expect(badge(page, target)).to_have_text("回传成功")
    for other in (slips[0], slips[2]):
        expect(badge(page, other)).to_have_text("未回传")
    calls = writebacks(sandbox)
    assert [(str(c["params"]["refId"]), str(c["params"]["orderId"])) for c in calls] == [
        (target.refund_no, target.tid)
    ]
    assert calls[0]["success"] is True
    states = dict(RawRefund.objects.values_list("refund_no", "writeback_status"))
    assert states == {
        slips[0].refund_no: WritebackStatus.NOT_SENT,
        target.refund_no: WritebackStatus.SUCCEEDED,
        slips[2].refund_no: WritebackStatus.NOT_SENT,
    }


def test_right_click_inside_a_selection_writes_back_the_selection(page, sandbox, jd, cs):
    slips = make_slips(sandbox, jd, 4, shipped={1})
    selected, shipped, untouched = slips[:3], slips[1], slips[3]
    login(page, cs.username, PASSWORD)
    for slip in selected:
        row(page, slip).locator("input.action-select").check()

    row(page, selected[2]).locator("td.field-reason").click(button="right")
    expect(menu_item(page)).to_contain_text("3 条")
    for slip in selected:
        expect(row(page, slip).locator("input.action-select")).to_be_checked()
    menu_item(page).click()

    expect(page.locator("ul.messagelist li.success")).to_have_text("操作成功：2 条已回传成功。")
    errors = page.locator("ul.messagelist li.error")
    expect(errors).to_have_count(1)
    expect(errors).to_contain_text(shipped.refund_no)
    expect(errors).to_contain_text("订单已发货")
    assert sent_ref_ids(sandbox) == sorted([selected[0].refund_no, selected[2].refund_no])
    expect(badge(page, selected[0])).to_have_text("回传成功")
    expect(badge(page, selected[2])).to_have_text("回传成功")
    expect(badge(page, shipped)).to_have_text("回传失败")  # refused: nothing sent, shown with its reason
    expect(badge(page, untouched)).to_have_text("未回传")


def test_keyboard_opens_moves_closes_and_chooses(page, sandbox, jd, cs):
    slips = make_slips(sandbox, jd, 3)
    target, earlier = slips[0], slips[2]
    login(page, cs.username, PASSWORD)
    # A row ticked before: Shift+F10 on another, unselected row asks (this row alone, or both); the
    # row alone must not become a Shift-range from the earlier tick.
    row(page, earlier).locator("input.action-select").check()
    box = row(page, target).locator("input.action-select")
    menu = page.locator("#writeback-menu")

    box.focus()
    page.keyboard.press("Shift+F10")
    expect(menu).to_be_visible()
    expect(menu_item(page)).to_be_focused()
    expect(menu_item(page)).to_have_text("退款回传（仅此行，1 条）")
    page.keyboard.press("ArrowDown")
    expect(include_item(page)).to_be_focused()
    expect(include_item(page)).to_have_text("退款回传（已选的 1 条和此行，共 2 条）")
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="取消")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu_item(page)).to_be_focused()

    # Esc decides nothing: the selection is as it was.
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(box).to_be_focused()
    assert writebacks(sandbox) == []
    checked = page.locator("#result_list tbody input.action-select:checked")
    expect(checked).to_have_count(1)
    expect(row(page, earlier).locator("input.action-select")).to_be_checked()

    page.keyboard.press("ContextMenu")  # the other way to open it from the keyboard
    expect(menu_item(page)).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("ul.messagelist li.success")).to_have_text("操作成功：1 条已回传成功。")
    expect(badge(page, target)).to_have_text("回传成功")
    expect(badge(page, earlier)).to_have_text("未回传")
    assert sent_ref_ids(sandbox) == [target.refund_no]


def test_right_click_beside_a_selection_can_include_it(page, sandbox, jd, cs):
    slips = make_slips(sandbox, jd, 3)
    ticked, target, untouched = slips
    login(page, cs.username, PASSWORD)
    row(page, ticked).locator("input.action-select").check()

    row(page, target).locator("td.field-reason").click(button="right")
    expect(menu_item(page)).to_have_text("退款回传（仅此行，1 条）")
    expect(include_item(page)).to_have_text("退款回传（已选的 1 条和此行，共 2 条）")
    # Asking changes nothing yet.
    expect(row(page, ticked).locator("input.action-select")).to_be_checked()
    expect(row(page, target).locator("input.action-select")).not_to_be_checked()
    include_item(page).click()

    expect(page.locator("ul.messagelist li.success")).to_have_text("操作成功：2 条已回传成功。")
    assert sent_ref_ids(sandbox) == sorted([ticked.refund_no, target.refund_no])
    expect(badge(page, untouched)).to_have_text("未回传")


def test_select_all_across_pages_shows_and_sends_the_full_count(page, sandbox, jd, cs, settings):
    """Django's 选中所有 runs the action on every matching slip, not the 50 on the page: the menu must
    say that number before anything goes to JD."""
    total = 57
    settings.WRITEBACK_BACKGROUND_OVER = 100  # sent in the request, so its answer shows the count
    make_slips(sandbox, jd, total)
    login(page, cs.username, PASSWORD)
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(50)  # one page of a longer list

    page.locator("#action-toggle").check()
    right_click_row = rows.nth(3).locator("td.field-reason")
    right_click_row.click(button="right")
    expect(menu_item(page)).to_have_text("退款回传（50 条）")  # only this page is selected so far
    page.keyboard.press("Escape")

    page.get_by_text(f"选中所有的 {total} 个").click()
    right_click_row.click(button="right")
    expect(menu_item(page)).to_have_text(f"退款回传（全部 {total} 条）")
    menu_item(page).click()

    expect(page.locator("ul.messagelist li.success")).to_have_text(f"操作成功：{total} 条已回传成功。")
    assert len(sent_ref_ids(sandbox)) == total
    assert RawRefund.objects.filter(writeback_status=WritebackStatus.SUCCEEDED).count() == total


@pytest.mark.parametrize("group", ["运营", "仓库"])
def test_no_menu_without_the_writeback_permission(page, sandbox, jd, django_user_model, group):
    slip = make_slips(sandbox, jd, 1)[0]
    user = make_user(django_user_model, "no_writeback", group)
    login(page, user.username, PASSWORD)
    if group == "仓库":
        # The warehouse does not see raw refund slips at all.
        expect(page.locator("#result_list")).to_have_count(0)
    else:
        expect(row(page, slip)).to_have_count(1)
    expect(page.locator("#writeback-menu")).to_have_count(0)
    # Neither the stock action dropdown nor the theme's action buttons offer it.
    expect(page.locator('select[name=action] option[value="refund_writeback"]')).to_have_count(0)
    expect(page.locator('.actions [data-name="refund_writeback"]')).to_have_count(0)
    expect(page.get_by_text(re.compile("退款回传（|Shift\\+F10"))).to_have_count(0)

    if group == "运营":
        # Record, after every page listener ran, whether anyone kept the browser's own menu away.
        page.evaluate(
            """() => { window.__menuPrevented = null;
            window.addEventListener('contextmenu', (e) => { window.__menuPrevented = e.defaultPrevented; }); }"""
        )
        row(page, slip).locator("td.field-reason").click(button="right")
        assert page.evaluate("window.__menuPrevented") is False
        expect(page.get_by_role("menu")).to_have_count(0)
    assert writebacks(sandbox) == []
