"""Platform sync over real HTTP against the SA sandbox (a subprocess), seeded through its control API."""

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from core.audit import events_for
from orders.models import Order, OrderLine, OrderStatus
from platforms.jd.adapter import JdPlatform
from platforms.jd.client import JosClient
from platforms.jd.signing import SHANGHAI, jd_timestamp
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from sa_sync.models import SyncCursor, SyncKind, SyncRun, SyncRunStatus
from sa_sync.platform_sync import shop_sync
from sandbox.testing import jos_call

from ..conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGE_LIST = "jingdong.pop.afs.soa.refundapply.queryPageList"
ORDER_SEARCH = "jingdong.pop.order.search"
WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


def ts(minutes_ago: float) -> str:
    return jd_timestamp(datetime.now(tz=SHANGHAI) - timedelta(minutes=minutes_ago))


def jd_order(order_id, state="WAIT_SELLER_STOCK_OUT", minutes_ago=60, skus=("100000000001",)):
    return {
        "orderId": str(order_id),
        "orderState": state,
        "orderStartTime": ts(minutes_ago + 5),
        "modified": ts(minutes_ago),
        "orderPayment": "158.00",
        "orderTotalPrice": "158.00",
        "pin": "jd_buyer",
        "itemInfoList": [
            {"skuId": sku, "skuName": "纯棉短袖T恤 白色 L", "jdPrice": "79.00", "itemTotal": "2"}
            for sku in skus
        ],
    }


def jd_refund(refund_id, order_id, status=0, minutes_ago=30, sku="100000000001", **extra):
    return {
        "id": refund_id,
        "orderId": int(order_id),
        "applyTime": ts(minutes_ago),
        "applyRefundSum": 7900,
        "status": status,
        "skuVoList": [{"skuId": sku, "skuName": "纯棉短袖T恤 白色 L", "skuCount": 1}],
        "reason": "不想要了",
        "buyerName": "张三",
        **extra,
    }


def fast_client(shop):
    """The real client over real HTTP, without real backoff sleeps (what is tested here is the outcome)."""
    return JosClient.for_shop(shop, sleep=lambda seconds: None)


def seed(sandbox, shop, orders=(), refunds=()):
    if orders:
        sandbox.seed_orders(shop.app_key, list(orders))
    if refunds:
        sandbox.seed_refunds(shop.app_key, list(refunds))


def test_full_sync_creates_rows_and_a_second_sync_changes_nothing(sandbox, jd):
    orders = [jd_order(810000000000 + n, skus=("100000000001", "100000000002")) for n in range(130)]
    refunds = [jd_refund(7000000000 + n, 810000000000 + n) for n in range(120)]
    seed(sandbox, jd, orders, refunds)

    order_run = shop_sync(jd, kind=SyncKind.ORDERS)
    refund_run = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert (order_run.status, refund_run.status) == (SyncRunStatus.SUCCEEDED, SyncRunStatus.SUCCEEDED)
    assert Order.objects.filter(shop=jd).count() == 130
    assert OrderLine.objects.filter(shop=jd).count() == 260
    assert RawRefund.objects.filter(shop=jd).count() == 120
    assert order_run.rows_new == 130 and refund_run.rows_new == 120
    assert order_run.pages == 2  # 100 a page
    assert len(sandbox.calls(method=PAGE_LIST)) >= 3  # ≤ 50 a page
    assert all(c["params"]["pageSize"] <= 50 for c in sandbox.calls(method=PAGE_LIST))

    slip = RawRefund.objects.get(shop=jd, refund_no="7000000003")
    assert slip.tid == "810000000003" and slip.oid == "810000000003-100000000001"
    assert slip.order.tid == "810000000003" and slip.order_line.oid == slip.oid
    assert slip.refund_type == RefundType.REFUND and slip.platform_status == PlatformStatus.APPLIED
    assert str(slip.refund_amount) == "79.00" and slip.reason == "不想要了" and slip.buyer_nick == "张三"
    assert not events_for(slip).exists()  # arrival is in the run, not a state change

    before = (
        list(Order.objects.values_list("id", "updated_at")),
        list(RawRefund.objects.values_list("id", "updated_at")),
    )
    again = [shop_sync(jd, kind=SyncKind.ORDERS), shop_sync(jd, kind=SyncKind.REFUNDS)]
    assert [(r.rows_new, r.rows_updated) for r in again] == [(0, 0), (0, 0)]
    after = (
        list(Order.objects.values_list("id", "updated_at")),
        list(RawRefund.objects.values_list("id", "updated_at")),
    )
    assert before == after


def test_platform_status_change_flows_in(sandbox, jd):
    seed(sandbox, jd, [jd_order(810000000001)], [jd_refund(7000000001, 810000000001)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    shop_sync(jd, kind=SyncKind.REFUNDS)
    sandbox.update_refund(7000000001, app_key=jd.app_key, status=3)  # JD refunded

    run = shop_sync(jd, kind=SyncKind.REFUNDS)
    slip = RawRefund.objects.get(refund_no="7000000001")
    assert run.rows_updated == 1
    assert slip.platform_status == PlatformStatus.REFUNDED
    event = events_for(slip).filter(field="platform_status", action="平台同步").get()
    assert (event.from_state, event.to_state) == ("申请退款", "退款成功")
    assert "京东财务审核通过" in event.reason and event.actor_name == "系统：平台同步"


def test_jd_states_map_to_platform_statuses(sandbox, jd):
    """A refund application is 退款 (JD's refund before receipt); returns come as service orders,
    downloaded by their own kind (tests/test_service_orders_e2e.py)."""
    seed(
        sandbox,
        jd,
        refunds=[
            jd_refund(1, 810000000001, status=1),
            jd_refund(2, 810000000001, status=3),
            jd_refund(3, 810000000001, status=11),
            jd_refund(4, 810000000001, status=2),
        ],
    )
    sandbox.seed_service_orders(
        jd.app_key,
        [
            {"serviceId": 11, "orderId": 810000000001, "skuId": 100000000001, "serviceStatus": 10005},
            {
                "serviceId": 12,
                "orderId": 810000000001,
                "skuId": 100000000001,
                "serviceStatus": 10005,
                "expressCode": "SF1",
            },
        ],
    )
    shop_sync(jd, kind=SyncKind.REFUNDS)
    shop_sync(jd, kind=SyncKind.SERVICE_ORDERS)
    got = dict(RawRefund.objects.values_list("refund_no", "platform_status"))
    assert got == {
        "1": PlatformStatus.APPLIED,
        "2": PlatformStatus.REFUNDED,
        "3": PlatformStatus.CANCELLED,
        "4": PlatformStatus.SELLER_REFUSED,
        "11": PlatformStatus.AWAITING_RETURN,
        "12": PlatformStatus.AWAITING_RECEIPT,
    }
    assert set(
        RawRefund.objects.filter(refund_no__in=["1", "2", "3", "4"]).values_list("refund_type", flat=True)
    ) == {RefundType.REFUND}


def test_sync_never_downgrades_local_state(sandbox, jd):
    seed(sandbox, jd, [jd_order(810000000001), jd_order(810000000002)], [jd_refund(7000000001, 810000000001)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    shop_sync(jd, kind=SyncKind.REFUNDS)
    # Locally the ERP moved on: the order is in the warehouse, a line is cancelled, the slip written back.
    Order.objects.filter(tid="810000000001").update(status=OrderStatus.IN_WAREHOUSE)
    OrderLine.objects.filter(order__tid="810000000002").update(is_cancelled=True)
    slip = RawRefund.objects.get(refund_no="7000000001")
    slip.start_writeback()
    slip.mark_writeback_succeeded()
    slip.save()
    # JD still says 等待出库 and changes the slip's status (and touches both orders).
    sandbox.update_order("810000000001", app_key=jd.app_key, orderStateRemark="等待出库")
    sandbox.update_order("810000000002", app_key=jd.app_key, orderStateRemark="等待出库")
    sandbox.update_refund(7000000001, app_key=jd.app_key, status=1)

    shop_sync(jd, kind=SyncKind.ORDERS)
    shop_sync(jd, kind=SyncKind.REFUNDS)
    assert Order.objects.get(tid="810000000001").status == OrderStatus.IN_WAREHOUSE
    assert OrderLine.objects.get(order__tid="810000000002").is_cancelled is True
    slip.refresh_from_db()
    assert slip.writeback_status == WritebackStatus.SUCCEEDED
    assert slip.platform_status_code == "1"


def test_jd_cancellation_applies_only_before_the_warehouse(sandbox, jd):
    seed(sandbox, jd, [jd_order(810000000001), jd_order(810000000002)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    Order.objects.filter(tid="810000000002").update(status=OrderStatus.SHIPPED)
    for tid in ("810000000001", "810000000002"):
        sandbox.update_order(tid, app_key=jd.app_key, orderState="TRADE_CANCELED")
    shop_sync(jd, kind=SyncKind.ORDERS)
    assert Order.objects.get(tid="810000000001").status == OrderStatus.CANCELLED
    assert Order.objects.get(tid="810000000002").status == OrderStatus.SHIPPED
    event = events_for(Order.objects.get(tid="810000000001")).get(field="status")
    assert (event.from_state, event.to_state) == ("待客审", "已取消")


def test_refund_before_its_order_is_linked_when_the_order_arrives(sandbox, jd):
    seed(sandbox, jd, refunds=[jd_refund(7000000001, 810000000009)])
    shop_sync(jd, kind=SyncKind.REFUNDS)
    slip = RawRefund.objects.get(refund_no="7000000001")
    assert slip.order is None
    seed(sandbox, jd, orders=[jd_order(810000000009)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    slip.refresh_from_db()
    assert slip.order.tid == "810000000009" and slip.order_line.oid == "810000000009-100000000001"


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http", "status": 503},
        {"kind": "jos", "code": "65"},
        {"kind": "jos", "code": "2"},
        {"kind": "hang", "seconds": 3},
    ],
)
def test_transient_faults_are_retried_and_the_run_completes(sandbox, jd, settings, fault):
    settings.JOS_TIMEOUT_SECONDS = 1.0
    seed(sandbox, jd, refunds=[jd_refund(7000000000 + n, 810000000001) for n in range(120)])
    sandbox.set_faults(app_key=jd.app_key, fail_next=[{**fault, "method": PAGE_LIST}])
    run = shop_sync(jd, kind=SyncKind.REFUNDS, platform=JdPlatform(jd, client=fast_client(jd)))
    assert run.status == SyncRunStatus.SUCCEEDED, run.error
    assert RawRefund.objects.filter(shop=jd).count() == 120
    # The fault was served (its queue is empty), and yet every slip arrived: the client retried.
    assert all(not f["faults"].get("fail_next") for f in sandbox.faults())


def test_failure_half_way_leaves_pages_consistent_and_the_next_run_catches_up(sandbox, jd):
    seed(
        sandbox,
        jd,
        refunds=[jd_refund(7000000000 + n, 810000000001, minutes_ago=200 - n) for n in range(120)],
    )
    # Page 1 answers; then every retry of page 2 fails (more 5xx than the client retries).
    armed = []
    client = fast_client(jd)
    real_call = client.call

    def call(method, params=None):
        if params.get("pageIndex") == 2 and not armed:
            armed.append(True)
            sandbox.set_faults(app_key=jd.app_key, fail_next=[{"kind": "http", "status": 502}] * 6)
        return real_call(method, params)

    client.call = call
    run = shop_sync(jd, kind=SyncKind.REFUNDS, platform=JdPlatform(jd, client=client))
    assert run.status == SyncRunStatus.FAILED
    assert "HTTP 502" in run.error or "502" in run.error
    written = RawRefund.objects.filter(shop=jd).count()
    assert written in (50, 100)  # whole pages only: page 1 (and 3 if it was fetched ahead)
    cursor = SyncCursor.objects.get(shop=jd, kind=SyncKind.REFUNDS)
    # Earlier (empty) chunks of the window count as done; the failed one does not.
    assert cursor.synced_until is None or cursor.synced_until < timezone.now() - timedelta(minutes=200)
    assert cursor.running_since is None

    sandbox.clear_faults()
    again = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert again.status == SyncRunStatus.SUCCEEDED
    assert RawRefund.objects.filter(shop=jd).count() == 120
    assert again.rows_new == 120 - written


def test_revoked_token_marks_the_shop_and_shows_it(sandbox, jd, client, ops_user):
    sandbox.set_faults(app_key=jd.app_key, revoked=True)
    run = shop_sync(jd, kind=SyncKind.REFUNDS)
    assert run.status == SyncRunStatus.FAILED and run.error_code == "19"
    assert "access_token" in run.error and "重新授权" in run.error
    jd.refresh_from_db()
    assert "access_token" in jd.credential_error
    assert len(sandbox.calls(method=PAGE_LIST)) == 1  # not retried: retrying cannot fix a token

    assert client.login(username=ops_user.username, password=PASSWORD)
    listing = client.get(reverse("admin:orders_shop_changelist")).content.decode()

    assert "授权异常" in listing and "重新授权" in listing and "失败" in listing
    page = client.get(reverse("admin:orders_shop_change", args=[jd.pk])).content.decode()
    assert "授权异常" in page and "平台同步" in page

    sandbox.clear_faults()
    assert shop_sync(jd, kind=SyncKind.REFUNDS).status == SyncRunStatus.SUCCEEDED
    jd.refresh_from_db()
    assert jd.credential_error == ""


def test_one_run_per_shop_and_kind_at_a_time(jd):
    SyncCursor.objects.create(shop=jd, kind=SyncKind.REFUNDS, running_since=timezone.now())
    assert shop_sync(jd, kind=SyncKind.REFUNDS) is None
    # A lease left by a killed process expires.
    SyncCursor.objects.filter(shop=jd).update(running_since=timezone.now() - timedelta(hours=1))
    assert shop_sync(jd, kind=SyncKind.REFUNDS) is not None


def test_command_syncs_one_shop(sandbox, jd, capsys):
    seed(sandbox, jd, [jd_order(810000000001)], [jd_refund(7000000001, 810000000001)])
    call_command("sync_platform", "--shop", jd.shop_no)
    out = capsys.readouterr().out
    assert "订单：成功" in out and "退款单：成功" in out and "服务单：成功" in out and "新增 1" in out
    assert SyncRun.objects.filter(shop=jd, trigger="命令行").count() == 3


def test_demo_flow_writeback_then_sync_shows_refunded(sandbox, jd):
    """Download, SA receives 取消发货成功, its policy refunds after the delay, next sync shows 退款成功."""
    sandbox.set_policy(jd.app_key, ["1", "2"], 0.3)
    seed(sandbox, jd, [jd_order(810000000001)], [jd_refund(7000000001, 810000000001)])
    shop_sync(jd, kind=SyncKind.ORDERS)
    shop_sync(jd, kind=SyncKind.REFUNDS)
    slip = RawRefund.objects.get(refund_no="7000000001")
    assert slip.platform_status == PlatformStatus.APPLIED
    answer = jos_call(
        sandbox.jos_url,
        jd.app_key,
        jd.app_secret,
        jd.access_token,
        WRITEBACK,
        {"orderId": 810000000001, "refId": 7000000001, "status": "1"},
    )
    assert answer[WRITEBACK.replace(".", "_") + "_responce"]["returnType"]["success"] is True
    deadline = timezone.now() + timedelta(seconds=10)
    while sandbox.refund(7000000001)["status"] != 3:
        assert timezone.now() < deadline, "the sandbox's SA policy never refunded"
    shop_sync(jd, kind=SyncKind.REFUNDS)
    slip.refresh_from_db()
    assert slip.platform_status == PlatformStatus.REFUNDED


def test_shop_without_credentials_fails_with_a_clear_message(jd):
    jd.access_token = ""
    jd.save()
    run = shop_sync(jd, kind=SyncKind.ORDERS)
    assert run.status == SyncRunStatus.FAILED and run.error


def test_beat_tick_fans_out_one_task_per_shop_and_kind(sandbox, jd, settings):
    """Run eagerly, as the worker would: each shop and kind gets its own run."""
    from erp_aftersales.celery import app
    from sa_sync.tasks import sync_all_shops

    seed(sandbox, jd, [jd_order(810000000001)], [jd_refund(7000000001, 810000000001)])
    app.conf.update(task_always_eager=True)
    try:
        sync_all_shops.delay()
    finally:
        app.conf.update(task_always_eager=False)
    runs = SyncRun.objects.filter(shop=jd)
    assert sorted(runs.values_list("kind", flat=True)) == ["orders", "refunds", "service_orders"]
    assert all(r.status == SyncRunStatus.SUCCEEDED for r in runs)
    assert RawRefund.objects.filter(shop=jd).count() == 1


def test_window_is_walked_again_when_its_total_moves_while_paging(sandbox, jd):
    seed(
        sandbox,
        jd,
        refunds=[jd_refund(7000000000 + n, 810000000001, minutes_ago=100 - n * 0.1) for n in range(120)],
    )
    client = fast_client(jd)
    real_call = client.call
    arrived = []

    def call(method, params=None):
        answer = real_call(method, params)
        if params.get("pageIndex") == 2 and not arrived:
            # A new application lands at the front of the window while we are between pages.
            arrived.append(True)
            sandbox.seed_refunds(jd.app_key, [jd_refund(6999999999, 810000000001, minutes_ago=120)])
        return answer

    client.call = call
    run = shop_sync(jd, kind=SyncKind.REFUNDS, platform=JdPlatform(jd, client=client))
    assert run.status == SyncRunStatus.SUCCEEDED
    assert RawRefund.objects.filter(shop=jd).count() == 121
