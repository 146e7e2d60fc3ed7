"""The returns pages as CS and the warehouse use them: 建退货单, the buttons, the scan-and-audit page."""

import pytest
from django.urls import reverse

from orders.models import OrderStatus
from platforms.jd.demo import jd_service_order_item
from refunds.models import PlatformStatus, RefundType, WritebackStatus
from returns.models import ReturnSlip, ReturnStatus
from returns.services import return_slip_create, return_slip_transition

from .conftest import PASSWORD
from .factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db(transaction=True)

WRITEBACK = "jingdong.asc.receive.register"  # 退货入仓 on a return (a JD service order)
SLIPS = reverse("admin:returns_returnslip_changelist")
SCAN = reverse("admin:returns_returnslip_scan")
CREATE = reverse("admin:returns_returnslip_create")


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def return_refund(shop, num=2, line_num=2):
    line = OrderLineFactory(order=OrderFactory(shop=shop, status=OrderStatus.COMPLETED), num=line_num)
    return RawRefundFactory(
        order_line=line,
        refund_type=RefundType.RETURN,
        platform_status=PlatformStatus.AWAITING_RECEIPT,
        num=num,
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_cs_creates_a_return_slip_from_the_raw_refund_list(client, jd, cs_user):
    raw = return_refund(jd)
    refund_only = RawRefundFactory(order_line=OrderLineFactory(order=OrderFactory(shop=jd)))
    response = login(client, cs_user).post(
        reverse("admin:refunds_rawrefund_changelist"),
        {"action": "create_return_slip", "_selected_action": [raw.pk, refund_only.pk], "index": 0},
        follow=True,
    )
    slip = ReturnSlip.objects.get(raw_refund=raw)
    assert slip.status == ReturnStatus.PENDING_REVIEW and slip.lines.get().quantity == 2
    text = " ".join(messages_of(response))
    assert slip.number in text and "只有“退货”类型可以建退货单" in text


def test_buttons_show_only_allowed_transitions_and_work(client, jd, cs_user):
    slip = return_slip_create(by=cs_user, raw_refund=return_refund(jd))
    page = login(client, cs_user).get(reverse("admin:returns_returnslip_change", args=[slip.pk]))
    html = page.content.decode()
    assert (
        'data-action="approve"' in html and 'data-action="reject"' in html and 'data-action="cancel"' in html
    )
    client.post(reverse("admin:returns_returnslip_transition", args=[slip.pk, "approve"]))
    slip.refresh_from_db()
    assert slip.status == ReturnStatus.AWAITING_INBOUND
    html = client.get(reverse("admin:returns_returnslip_change", args=[slip.pk])).content.decode()
    assert 'data-action="approve"' not in html and 'data-action="reject"' in html
    assert "审核通过" in html  # the 操作日志
    response = client.post(
        reverse("admin:returns_returnslip_transition", args=[slip.pk, "approve"]), follow=True
    )
    assert "当前状态为“待入库”，不能审核通过" in " ".join(messages_of(response))


def test_cs_creates_by_hand_and_over_return_is_refused(client, jd, cs_user):
    order = OrderFactory(shop=jd, status=OrderStatus.COMPLETED)
    a = OrderLineFactory(order=order, num=2)
    login(client, cs_user)
    assert a.oid in client.get(CREATE, {"tid": order.tid}).content.decode()
    response = client.post(CREATE, {"tid": order.tid, f"qty-{a.pk}": "3", "create": "1"})
    assert "退货数量 3 超过可退数量 2（购买 2，其他未关闭退货单已占 0）" in " ".join(messages_of(response))
    response = client.post(
        CREATE, {"tid": order.tid, f"qty-{a.pk}": "2", "logistics_no": "YT123", "create": "1"}
    )
    slip = ReturnSlip.objects.get()
    assert response.status_code == 302 and slip.logistics_no == "YT123"


def test_warehouse_scans_records_and_audits_and_jd_hears_it(client, sandbox, jd, cs_user, warehouse_user):
    raw = return_refund(jd)
    sandbox.seed_service_orders(jd.app_key, [jd_service_order_item(raw)])
    slip = return_slip_create(by=cs_user, raw_refund=raw, logistics_company="顺丰", logistics_no="SF9001")
    return_slip_transition(slip.pk, "approve", by=cs_user)
    line = slip.lines.get()
    login(client, warehouse_user)
    page = client.get(SCAN, {"q": "SF9001"}).content.decode()
    assert slip.number in page and f'name="good-{line.pk}"' in page
    response = client.post(
        SCAN, {"slip": slip.pk, "q": "SF9001", f"good-{line.pk}": "2", f"damaged-{line.pk}": "0"}, follow=True
    )
    text = " ".join(messages_of(response))
    assert "入库审核完成" in text and f"原始退款单 {raw.refund_no}：已回传退货入仓" in text
    raw.refresh_from_db()
    assert raw.inbound_num == 2 and raw.writeback_status == WritebackStatus.SUCCEEDED
    assert [c["params"]["serviceId"] for c in sandbox.calls(method=WRITEBACK)] == [int(raw.refund_no)]

    # The raw refund slip's page shows the return slip, the audit and the running total.
    login(client, cs_user)
    html = client.get(reverse("admin:refunds_rawrefund_change", args=[raw.pk])).content.decode()
    assert slip.number in html and "累计良品入库 2 / 退款数量 2" in html


def test_scan_over_receipt_is_refused_in_words(client, jd, cs_user, warehouse_user):
    slip = return_slip_create(by=cs_user, raw_refund=return_refund(jd), approve=True)
    line = slip.lines.get()
    response = login(client, warehouse_user).post(
        SCAN, {"slip": slip.pk, f"good-{line.pk}": "2", f"damaged-{line.pk}": "1"}
    )
    assert "实收 3（良品 2，残次 1）超过退货数量 2" in " ".join(messages_of(response))
    slip.refresh_from_db()
    assert slip.status == ReturnStatus.AWAITING_INBOUND


def test_roles_guard_the_pages(client, jd, cs_user, warehouse_user):
    slip = return_slip_create(by=cs_user, raw_refund=return_refund(jd))
    login(client, cs_user)
    assert client.get(SCAN).status_code == 403
    login(client, warehouse_user)
    assert client.get(SLIPS).status_code == 200
    assert client.get(CREATE).status_code == 403
    response = client.post(reverse("admin:returns_returnslip_transition", args=[slip.pk, "approve"]))
    assert response.status_code == 403
    slip.refresh_from_db()
    assert slip.status == ReturnStatus.PENDING_REVIEW


def test_list_renders_with_filters(client, jd, cs_user):
    return_slip_create(by=cs_user, raw_refund=return_refund(jd), approve=True)
    login(client, cs_user)
    for params in [{}, {"overdue": "yes"}, {"status__exact": ReturnStatus.AWAITING_INBOUND}, {"q": "x"}]:
        assert client.get(SLIPS, params).status_code == 200


def test_overdue_slips_are_marked_in_the_list(client, jd, cs_user):
    from datetime import timedelta

    from django.utils import timezone

    slip = return_slip_create(by=cs_user, raw_refund=return_refund(jd), approve=True)
    ReturnSlip.objects.filter(pk=slip.pk).update(approved_at=timezone.now() - timedelta(days=20))
    html = login(client, cs_user).get(SLIPS, {"overdue": "yes"}).content.decode()
    assert slip.number in html and "超时未入库（20 天）" in html
