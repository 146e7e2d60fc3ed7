import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from erp_aftersales.demo import load_demo
from orders.models import Order, OrderStatus, Shop
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus

pytestmark = pytest.mark.django_db


def counts():
    return (
        Shop.objects.count(),
        Order.objects.count(),
        RawRefund.objects.count(),
        get_user_model().objects.count(),
        sorted(RawRefund.objects.values_list("refund_no", "writeback_status")),
    )


def test_demo_twice_gives_the_same_rows():
    load_demo()
    first = counts()
    call_command("load_demo")
    assert counts() == first
    shops, orders, refunds, users, _ = first
    assert shops == 2 and orders >= 200 and refunds >= 100 and users == 5


def test_demo_covers_every_status_type_and_platform_status():
    load_demo()
    assert set(Order.objects.values_list("status", flat=True)) == {s.value for s in OrderStatus}
    assert set(RawRefund.objects.values_list("refund_type", flat=True)) == {t.value for t in RefundType}
    assert set(RawRefund.objects.values_list("platform_status", flat=True)) == {
        s.value for s in PlatformStatus
    }
    assert set(RawRefund.objects.values_list("writeback_status", flat=True)) >= {
        WritebackStatus.NOT_SENT,
        WritebackStatus.SUCCEEDED,
        WritebackStatus.FAILED,
    }


def test_demo_users_log_in_with_the_documented_password(client):
    load_demo()
    for username in ("admin", "cs", "ops", "warehouse", "finance"):
        assert client.login(username=username, password="erp-demo"), username
    assert get_user_model().objects.get(username="cs").groups.filter(name="客服").exists()


def test_demo_refund_slips_in_every_state_and_orders_with_a_full_reduction():
    from orders.models import OrderPromotion
    from refund_slips.models import RefundSlip, RefundSlipStatus

    load_demo()
    first = sorted(RefundSlip.objects.values_list("pk", "status", "amount"))
    assert {s for _, s, _ in first} == {s.value for s in RefundSlipStatus}
    assert RefundSlip.objects.filter(status=RefundSlipStatus.PENDING_REVIEW, level1_at__isnull=False).exists()
    assert RefundSlip.objects.exclude(attention="").exists()  # 关键词预警
    assert RefundSlip.objects.filter(quote__contains="满减").exists()
    assert OrderPromotion.objects.count() >= 4
    assert RawRefund.objects.exclude(keyword_warning="").exists()
    load_demo()
    assert sorted(RefundSlip.objects.values_list("pk", "status", "amount")) == first


def test_demo_refused_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="生产模式"):
        call_command("load_demo")
    assert not get_user_model().objects.filter(username="cs").exists()


def test_demo_slips_are_known_to_the_sandbox_and_a_sync_changes_nothing(sandbox, settings):
    from core.models import Event
    from erp_aftersales.demo import share_with_sandbox
    from sa_sync.demo_shops import DEMO_SHOPS
    from sa_sync.models import SyncKind
    from sa_sync.platform_sync import shop_sync
    from sa_sync.writeback import refund_writeback

    sandbox.reset()
    settings.JOS_ENDPOINT = sandbox.jos_url
    for spec in DEMO_SHOPS:
        sandbox.seed_shop(
            **{k: spec[k] for k in ("app_key", "app_secret", "access_token", "shop_no", "name", "vender_id")}
        )
    load_demo()
    assert share_with_sandbox(sandbox) == RawRefund.objects.count()
    fields = (
        "refund_no",
        "tid",
        "oid",
        "order_id",
        "order_line_id",
        "refund_type",
        "platform_status",
        "reason",
        "refund_amount",
        "num",
        "buyer_nick",
        "apply_time",
        "writeback_status",
    )
    before = sorted(RawRefund.objects.values_list(*fields))
    for shop in Shop.objects.all():
        assert shop_sync(shop, kind=SyncKind.REFUNDS).error == ""
        assert shop_sync(shop, kind=SyncKind.SERVICE_ORDERS).error == ""
    assert sorted(RawRefund.objects.values_list(*fields)) == before
    assert not Event.objects.filter(field="platform_status", actor_name="系统：平台同步").exists()

    slip = next(
        s
        for s in RawRefund.objects.filter(writeback_status=WritebackStatus.NOT_SENT)
        if s.writeback_refusal() is None
    )
    assert refund_writeback([slip.pk])[0].succeeded


def test_demo_returns_in_every_state_and_a_waiting_one_reaches_the_sandbox(
    sandbox, settings, django_capture_on_commit_callbacks
):
    """A new user audits a demo return slip waiting for the warehouse: 退货入仓 reaches the sandbox."""
    from erp_aftersales.demo import DEMO_WAYBILLS, share_with_sandbox
    from returns.models import ReturnSlip, ReturnStatus
    from returns.services import return_inbound_audit
    from sa_sync.demo_shops import DEMO_SHOPS

    sandbox.reset()
    settings.JOS_ENDPOINT = sandbox.jos_url
    for spec in DEMO_SHOPS:
        sandbox.seed_shop(
            **{k: spec[k] for k in ("app_key", "app_secret", "access_token", "shop_no", "name", "vender_id")}
        )
    load_demo()
    share_with_sandbox(sandbox)
    assert set(ReturnSlip.objects.values_list("status", flat=True)) == {s.value for s in ReturnStatus}
    waiting = ReturnSlip.objects.filter(logistics_no__in=DEMO_WAYBILLS, status=ReturnStatus.AWAITING_INBOUND)
    assert waiting.count() == 3
    slip = waiting.get(logistics_no=DEMO_WAYBILLS[0])
    received = {line.pk: (line.quantity, 0) for line in slip.lines.all()}
    with django_capture_on_commit_callbacks(execute=True):
        result = return_inbound_audit(slip.pk, by="warehouse", received=received)
    assert [r.succeeded for r in result.writeback_results] == [True]
    # a return is a JD service order: 退货入仓 is its 收货登记 (the shops' default)
    [call] = sandbox.calls(method="jingdong.asc.receive.register")
    assert call["params"]["serviceId"] == int(slip.raw_refund.refund_no)
    load_demo()  # a rerun makes no second set
    assert ReturnSlip.objects.filter(logistics_no=DEMO_WAYBILLS[1]).count() == 1
