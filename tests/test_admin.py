import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders.models import OrderStatus, PayType, ServiceOrderReturnSignal
from refunds.models import PlatformStatus, RefundType, WritebackStatus
from refunds.reasons import COMMON_REASONS

from .conftest import PASSWORD
from .factories import OrderLineFactory, RawRefundFactory, ShopFactory

pytestmark = pytest.mark.django_db

REFUNDS = reverse("admin:refunds_rawrefund_changelist")
ORDERS = reverse("admin:orders_order_changelist")
LINES = reverse("admin:orders_orderline_changelist")


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def refund_filters(shop):
    # As Django's date filter writes them: aware datetimes at local midnight.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    params = [{}]
    params += [{"shop__id__exact": shop.pk}]
    params += [{"refund_type__exact": t.value} for t in RefundType]
    params += [{"platform_status__exact": s.value} for s in PlatformStatus]
    params += [{"writeback_status__exact": s.value} for s in WritebackStatus]
    params += [{"reason": r} for r in COMMON_REASONS]
    for field in ("apply_time", "created_at"):
        params += [
            {f"{field}__gte": str(today - timedelta(days=7)), f"{field}__lt": str(today + timedelta(days=1))}
        ]
    params += [{"q": "R0000000001"}, {"o": "-6"}]
    return params


@pytest.fixture
def mixed_slips():
    shop = ShopFactory()
    for t in RefundType:
        for s in PlatformStatus:
            RawRefundFactory(
                refund_type=t, platform_status=s, order_line__order__shop=shop, apply_time=timezone.now()
            )
    return shop


@pytest.mark.parametrize("user_fixture", ["cs_user", "ops_user"])
def test_refund_list_renders_with_every_filter(client, request, user_fixture, mixed_slips):
    login(client, request.getfixturevalue(user_fixture))
    for params in refund_filters(mixed_slips):
        response = client.get(REFUNDS, params)
        assert response.status_code == 200, params
        # Django silently redirects an unknown filter to ?e=1: make sure every filter was understood.
        assert "e=1" not in response.get("Location", ""), params


def test_filters_select_the_right_rows(client, cs_user, mixed_slips):
    login(client, cs_user)
    response = client.get(
        REFUNDS, {"writeback_status__exact": 0, "refund_type__exact": 1, "platform_status__exact": 2}
    )
    rows = list(response.context["cl"].result_list)
    assert len(rows) == 1
    assert (rows[0].refund_type, rows[0].platform_status) == (RefundType.REFUND, PlatformStatus.APPLIED)


def test_list_shows_chinese_labels_and_badges(client, cs_user, slip):
    html = login(client, cs_user).get(REFUNDS).content.decode()
    for text in ("原始退款单", "退款回传状态", "未回传", "申请退款", "erp-badge", slip.refund_no):
        assert text in html


def test_search_finds_numbers_by_their_start_and_buyers_exactly(client, cs_user):
    a = RawRefundFactory(refund_no="R123")
    b = RawRefundFactory(refund_no="R1234")
    login(client, cs_user)
    for term in ("R1234", a.tid, a.oid, a.buyer_nick):
        expected = b if term == "R1234" else a
        rows = list(client.get(REFUNDS, {"q": term}).context["cl"].result_list)
        assert [r.pk for r in rows] == [expected.pk], term
    # A number's beginning finds every slip it begins: part of a number is enough.
    rows = client.get(REFUNDS, {"q": "R123"}).context["cl"].result_list
    assert {r.pk for r in rows} == {a.pk, b.pk}


@pytest.mark.parametrize("user_fixture", ["cs_user", "ops_user", "warehouse_user"])
def test_order_lists_render_with_every_filter(client, request, user_fixture):
    login(client, request.getfixturevalue(user_fixture))
    line = OrderLineFactory(order__trade_time=timezone.now())
    order_params = [{}, {"shop__id__exact": line.shop_id}, {"q": line.order.tid}]
    order_params += [{"status__exact": s.value} for s in OrderStatus]
    order_params += [{"pay_type__exact": p.value} for p in PayType]
    for params in order_params:
        response = client.get(ORDERS, params)
        assert response.status_code == 200 and "e=1" not in response.get("Location", ""), params
    for params in ({}, {"is_cancelled__exact": 1}, {"interception_status__exact": 1}, {"q": line.oid}):
        response = client.get(LINES, params)
        assert response.status_code == 200 and "e=1" not in response.get("Location", ""), params


def test_slip_page_shows_order_lines_and_event_log(client, cs_user):
    slip = RawRefundFactory()
    OrderLineFactory(order=slip.order, goods_name="蓝牙耳机 降噪版")
    slip.start_writeback(by="系统：测试")
    slip.mark_writeback_failed(by="系统：测试", reason="京东返回：access_token 失效，请重新授权")
    slip.save()
    html = (
        login(client, cs_user).get(reverse("admin:refunds_rawrefund_change", args=[slip.pk])).content.decode()
    )
    assert slip.order.tid in html
    assert "纯棉短袖T恤" in html and "蓝牙耳机 降噪版" in html
    assert "操作日志" in html and "开始退款回传" in html and "access_token 失效" in html
    assert "回传失败" in html


def test_slips_cannot_be_edited_or_added_by_hand(client, ops_user, slip):
    login(client, ops_user)
    url = reverse("admin:refunds_rawrefund_change", args=[slip.pk])
    client.post(url, {"reason": "改掉"})
    slip.refresh_from_db()
    assert slip.reason == "不想要了"
    assert client.get(reverse("admin:refunds_rawrefund_add")).status_code == 403


def test_outsider_is_refused(client, outsider, slip):
    login(client, outsider)
    for url in (REFUNDS, ORDERS, LINES, reverse("admin:refunds_rawrefund_change", args=[slip.pk])):
        assert client.get(url).status_code == 403, url


def test_anonymous_goes_to_login(client):
    response = client.get(REFUNDS)
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_warehouse_does_not_see_slips(client, warehouse_user):
    login(client, warehouse_user)
    assert client.get(REFUNDS).status_code == 403


def test_refund_list_has_no_per_row_queries(client, cs_user):
    login(client, cs_user)
    RawRefundFactory.create_batch(3)
    with CaptureQueriesContext(connection) as few:
        assert client.get(REFUNDS).status_code == 200
    RawRefundFactory.create_batch(30)
    with CaptureQueriesContext(connection) as many:
        assert client.get(REFUNDS).status_code == 200
    assert len(many) == len(few)


def test_shop_secrets_are_write_only(client, ops_user):
    shop = ShopFactory(app_secret="very-secret-value", access_token="very-secret-token")
    login(client, ops_user)
    url = reverse("admin:orders_shop_change", args=[shop.pk])
    html = client.get(url).content.decode()
    assert "very-secret-value" not in html and "very-secret-token" not in html
    form = {
        "platform": "jd",
        "shop_no": shop.shop_no,
        "name": "改名后的店铺",
        "vender_id": "",
        "app_key": shop.app_key,
        "app_secret": "",
        "access_token": "",
        "sa_writeback_enabled": "on",
        "service_order_return_signal": ServiceOrderReturnSignal.RECEIVE_REGISTER,
        "is_active": "on",
    }
    assert client.post(url, form).status_code == 302
    shop.refresh_from_db()
    assert (shop.name, shop.app_secret, shop.access_token) == (
        "改名后的店铺",
        "very-secret-value",
        "very-secret-token",
    )
    client.post(url, {**form, "access_token": "new-token"})
    shop.refresh_from_db()
    assert shop.access_token == "new-token"
    html = client.get(url).content.decode()
    assert "new-token" not in html
    assert "Access Token" in html and "操作日志" in html and "修改店铺" in html


def test_cs_cannot_change_shops(client, cs_user, shop):
    login(client, cs_user)
    url = reverse("admin:orders_shop_change", args=[shop.pk])
    client.post(url, {"platform": "jd", "shop_no": shop.shop_no, "name": "hacked"})
    shop.refresh_from_db()
    assert shop.name != "hacked"


def theme_menu(html):
    """The side menu the theme draws, from the JSON the index page hands it (`var menus=[...]`)."""
    match = re.search(r"var menus=(\[.*?\])</script>", html, re.S)
    assert match, "the index page hands the theme no menu"
    return {group["name"]: [m["name"] for m in group.get("models", [])] for group in json.loads(match[1])}


def test_menu_groups_slips_under_orders(client, cs_user):
    html = login(client, cs_user).get(reverse("admin:index")).content.decode()
    menu = theme_menu(html)
    assert list(menu)[0] == "订单"
    assert "原始退款单" in menu["订单"] and "系统订单" in menu["订单"]


def test_pages_are_chinese_whatever_the_browser_asks_for(client, cs_user, slip):
    login(client, cs_user)
    html = client.get(REFUNDS, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "<title>原始退款单 |" in html and "搜索" in html and "条结果" in html
    assert "Select " not in html and ">Filter<" not in html and ">Search<" not in html


def test_cs_can_filter_failed_slips_by_reason(client, cs_user):
    from refunds.models import RawRefund

    shipped, jd_said_no, pending = RawRefundFactory(), RawRefundFactory(), RawRefundFactory()
    RawRefund.objects.filter(pk=shipped.pk).update(
        writeback_status=WritebackStatus.FAILED, writeback_message="订单已发货，无法回传取消发货成功"
    )
    RawRefund.objects.filter(pk=jd_said_no.pk).update(
        writeback_status=WritebackStatus.FAILED, writeback_message="京东返回：退款单不存在"
    )
    login(client, cs_user)
    for reason, expected in (("shipped", shipped), ("jd", jd_said_no)):
        rows = list(client.get(REFUNDS, {"wb_reason": reason}).context["cl"].result_list)
        assert [r.pk for r in rows] == [expected.pk], reason
    assert pending.pk in [r.pk for r in client.get(REFUNDS).context["cl"].result_list]
