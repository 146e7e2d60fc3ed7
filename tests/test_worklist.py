"""The warehouse worklist (待确认拦截): when the buyer applied, how long it has waited, a button per
row, and 拦截失败 asks before it acts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import InterceptionStatus, OrderLine

from .conftest import PASSWORD
from .factories import OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db

WORKLIST = reverse("admin:orders_pendinginterception_changelist")


def pending_line(hours_ago):
    line = OrderLineFactory(interception_status=InterceptionStatus.PENDING, intercept_num=1)
    RawRefundFactory(order_line=line, apply_time=timezone.now() - timedelta(hours=hours_ago))
    return line


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_worklist_shows_applied_time_and_waiting_longest_first(client, warehouse_user):
    recent, old = pending_line(1), pending_line(30)
    response = login(client, warehouse_user).get(WORKLIST)
    rows = list(response.context["cl"].result_list)
    assert [r.pk for r in rows] == [old.pk, recent.pk]
    html = response.content.decode()
    assert "申请时间" in html and "已等待" in html and "1天6小时" in html
    assert reverse("admin:orders_pendinginterception_confirm", args=[old.pk, "succeeded"]) in html


def test_row_button_confirms_success_at_once(client, warehouse_user):
    line = pending_line(2)
    login(client, warehouse_user)
    response = client.post(reverse("admin:orders_pendinginterception_confirm", args=[line.pk, "succeeded"]))
    assert response.status_code == 302
    line.refresh_from_db()
    assert line.interception_status == InterceptionStatus.SUCCEEDED


def test_interception_failed_asks_first_then_acts(client, warehouse_user):
    line = pending_line(2)
    login(client, warehouse_user)
    url = reverse("admin:orders_pendinginterception_confirm", args=[line.pk, "failed"])
    page = client.get(url).content.decode()
    assert "确认拦截失败表示货品已经出库" in page and line.oid in page and "返回，不确认" in page
    assert OrderLine.objects.get(pk=line.pk).interception_status == InterceptionStatus.PENDING
    client.post(url)
    assert OrderLine.objects.get(pk=line.pk).interception_status == InterceptionStatus.FAILED


def test_the_list_action_for_failed_asks_first_too(client, warehouse_user):
    line = pending_line(2)
    login(client, warehouse_user)
    data = {"action": "confirm_failed", "_selected_action": [line.pk], "index": "0"}
    page = client.post(WORKLIST, data).content.decode()
    assert "确认拦截失败（1 条）" in page
    assert OrderLine.objects.get(pk=line.pk).interception_status == InterceptionStatus.PENDING
    client.post(WORKLIST, {"action": "confirm_failed", "_selected_action": [line.pk], "confirmed": "yes"})
    assert OrderLine.objects.get(pk=line.pk).interception_status == InterceptionStatus.FAILED


def test_cs_has_no_row_buttons_and_cannot_confirm(client, cs_user):
    line = pending_line(2)
    html = login(client, cs_user).get(WORKLIST).content.decode()
    assert reverse("admin:orders_pendinginterception_confirm", args=[line.pk, "succeeded"]) not in html
    url = reverse("admin:orders_pendinginterception_confirm", args=[line.pk, "failed"])
    assert client.post(url).status_code == 403
