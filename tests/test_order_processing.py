"""Minimal order processing on the ERP's own states (客审通过 → 财审通过 / 审核 → 发货), so an
interception can be rehearsed on any order: permissioned buttons, one service, an event each."""

import pytest
from django.urls import reverse

from core.audit import events_for
from orders.models import InterceptionStatus, OrderStatus
from orders.services import OrderStepRefused, order_advance

from .conftest import PASSWORD
from .factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def step(client, order, key, **data):
    return client.post(reverse("admin:orders_order_step", args=[order.pk, key]), data, follow=True)


def test_an_order_walks_to_shipped_with_an_event_per_step(client, cs_user, warehouse_user):
    order = OrderLineFactory().order
    login(client, cs_user)
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'data-step="cs_review"' in page and 'data-step="ship"' not in page
    step(client, order, "cs_review")
    step(client, order, "finance_review")
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_WAREHOUSE
    client.logout()
    login(client, warehouse_user)
    refused = step(client, order, "ship")
    assert "物流单号：发货必须填写物流单号" in refused.content.decode()
    step(client, order, "ship", logistics_no="SF1234567890")
    order.refresh_from_db()
    assert (order.status, order.logistics_no) == (OrderStatus.SHIPPED, "SF1234567890")
    events = list(
        events_for(order).order_by("id").values_list("action", "from_state", "to_state", "actor_name")
    )
    assert events == [
        ("客审通过", "待客审", "待财审", cs_user.username),
        ("财审通过", "待财审", "已审核(仓库处理中)", cs_user.username),
        ("发货", "已审核(仓库处理中)", "已发货", warehouse_user.username),
    ]


def test_approve_goes_straight_to_the_warehouse(client, cs_user):
    order = OrderFactory()
    login(client, cs_user)
    step(client, order, "approve")
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_WAREHOUSE


def test_steps_are_refused_without_the_permission_or_from_the_wrong_state(client, ops_user, cs_user):
    order = OrderFactory(status=OrderStatus.SHIPPED)
    login(client, ops_user)
    assert client.post(reverse("admin:orders_order_step", args=[order.pk, "cs_review"])).status_code == 403
    client.logout()
    login(client, cs_user)
    response = step(client, order, "cs_review")
    assert "当前为“已发货”，不能客审通过" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    with pytest.raises(OrderStepRefused):
        order_advance(order.pk, "ship", by=ops_user, logistics_no="X")


def test_shipping_waits_for_a_pending_interception(warehouse_user):
    line = OrderLineFactory(
        order__status=OrderStatus.IN_WAREHOUSE, interception_status=InterceptionStatus.PENDING
    )
    with pytest.raises(OrderStepRefused, match="拦截中"):
        order_advance(line.order_id, "ship", by=warehouse_user, logistics_no="SF1")
