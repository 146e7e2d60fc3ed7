"""Events out: outbox rows in the change's transaction, signed deliveries to a real HTTP receiver,
retries with backoff, and a receiver that is down or slow never undoes or blocks the change.

The receivers listen on 127.0.0.1, which the worker refuses by default: each test here opts in through
`local_receivers` (the address rule itself: test_webhook_ssrf.py)."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from api.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription
from api.services import raw_refunds_push
from api.webhooks import SIGNATURE_HEADER, webhook_deliver_due
from refunds.models import RawRefund

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests"


class Receiver:
    """A real HTTP server on a free port; answers with the codes queued in `answers` (then 200)."""

    def __init__(self):
        self.requests, self.answers = [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({"headers": dict(self.headers), "body": body})
                code = outer.answers.pop(0) if outer.answers else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"boom")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(local_receivers):
    r = Receiver()
    yield r
    r.close()


def subscribe(shop, url, events=("raw_refund.changed", "raw_refund.writeback", "return_slip.changed")):
    return WebhookSubscription.objects.create(
        shop=shop, name="wms", url=url, events=list(events), secret=SECRET
    )


def item(n=1, **extra):
    return {
        "refund_no": f"8{n:09d}",
        "tid": f"3{n:09d}",
        "oid": "",
        "refund_type": 1,
        "platform_status": 2,
        "platform_status_code": "",
        "reason": "",
        "description": "",
        "refund_amount": __import__("decimal").Decimal("1.00"),
        "num": 1,
        "buyer_nick": "",
        "apply_time": None,
        "check_time": None,
        "modified": timezone.now(),
        **extra,
    }


def test_push_writes_outbox_and_the_delivery_is_signed(api, shop_key, receiver):
    shop = shop_key[0]
    subscribe(shop, receiver.url)
    payload = {
        "refund_no": "8000000001",
        "tid": "3000000001",
        "refund_type": 1,
        "platform_status": 2,
        "refund_amount": "5.00",
        "modified": "2026-11-28T10:00:00+08:00",
    }
    assert api.post("/api/v1/raw-refunds/", {"items": [payload]}, format="json").status_code == 200
    event = OutboxEvent.objects.get()
    assert event.event_type == "raw_refund.changed" and event.payload["change"]["actor"] == "API：wms"
    assert webhook_deliver_due() == 1
    [request] = receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"][SIGNATURE_HEADER] == expected
    document = json.loads(request["body"])
    assert document["type"] == "raw_refund.changed" and document["data"]["refund_no"] == "8000000001"
    assert document["data"]["refund_amount"] == "5.00" and document["shop_no"] == shop.shop_no
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.last_status_code == 200
    assert delivery.history[-1]["status_code"] == 200
    # Delivered once: nothing more is due.
    assert webhook_deliver_due() == 0 and len(receiver.requests) == 1


def test_only_subscribed_event_types_and_active_subscriptions(shop_key, receiver):
    shop = shop_key[0]
    subscribe(shop, receiver.url, events=["return_slip.changed"])
    WebhookSubscription.objects.create(
        shop=shop, name="off", url=receiver.url, events=["raw_refund.changed"], secret="x", is_active=False
    )
    raw_refunds_push(shop, [item()], by="API：wms")
    assert not OutboxEvent.objects.exists()


def test_failure_is_retried_with_backoff_then_given_up(shop_key, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    subscribe(shop_key[0], receiver.url)
    raw_refunds_push(shop_key[0], [item()], by="API：wms")
    receiver.answers = [500, 503, 502]
    now = timezone.now()
    assert webhook_deliver_due(now=now) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_error == "接收方返回 HTTP 500" and delivery.last_response == "boom"
    assert timedelta(seconds=29) <= delivery.next_attempt_at - now <= timedelta(seconds=31)
    assert webhook_deliver_due(now=now + timedelta(seconds=10)) == 0  # not due yet
    assert webhook_deliver_due(now=now + timedelta(seconds=31)) == 1
    delivery.refresh_from_db()
    # Backoff doubles: 30 s, then 60 s.
    assert delivery.attempts == 2 and delivery.next_attempt_at - (now + timedelta(seconds=31)) >= timedelta(
        seconds=59
    )
    assert webhook_deliver_due(now=now + timedelta(hours=1)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and [h["status_code"] for h in delivery.history] == [
        500,
        503,
        502,
    ]
    # Every attempt carried the same body and signature.
    assert len({r["headers"][SIGNATURE_HEADER] for r in receiver.requests}) == 1


def test_receiver_down_never_undoes_the_change(api, shop_key, local_receivers):
    subscribe(shop_key[0], "http://127.0.0.1:9/unreachable")
    payload = {
        "refund_no": "8000000001",
        "tid": "3000000001",
        "refund_type": 1,
        "platform_status": 2,
        "refund_amount": "5.00",
        "modified": "2026-11-28T10:00:00+08:00",
    }
    assert api.post("/api/v1/raw-refunds/", {"items": [payload]}, format="json").status_code == 200
    assert webhook_deliver_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and "ConnectError" in delivery.last_error
    assert RawRefund.objects.filter(refund_no="8000000001").exists()


def test_outbox_rows_roll_back_with_the_change(shop_key, receiver):
    subscribe(shop_key[0], receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        raw_refunds_push(shop_key[0], [item()], by="API：wms")
        assert OutboxEvent.objects.count() == 1  # written inside the change's transaction
        raise RuntimeError("the change fails after its events were written")
    assert not OutboxEvent.objects.exists() and not WebhookDelivery.objects.exists()
    assert not RawRefund.objects.exists()


def test_writeback_and_return_slip_changes_become_events(shop_key, receiver):
    from orders.models import OrderStatus
    from refunds.models import PlatformStatus, RefundType
    from returns.services import return_slip_create
    from tests.factories import OrderFactory, OrderLineFactory, RawRefundFactory

    shop = shop_key[0]
    subscribe(shop, receiver.url)
    line = OrderLineFactory(order=OrderFactory(shop=shop, status=OrderStatus.COMPLETED), num=1)
    raw = RawRefundFactory(
        order_line=line, refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RECEIPT
    )
    return_slip_create(raw_refund=raw, by="API：wms", approve=True)
    assert list(OutboxEvent.objects.order_by("pk").values_list("event_type", flat=True)) == [
        "return_slip.changed",
        "return_slip.changed",
    ]
    # A writeback state change (refused here: the goods are not in) is a writeback event.
    from sa_sync.writeback import refund_writeback

    with transaction.atomic():
        slip = RawRefund.objects.get(pk=raw.pk)
        slip.refuse_writeback(by="API：wms", reason="退货尚未入库，无法回传退货入仓")
        slip.save()
    last = OutboxEvent.objects.order_by("-pk").first()
    assert last.event_type == "raw_refund.writeback" and last.payload["data"]["writeback_status"] == 3
    assert refund_writeback  # the verb every caller uses records through the same event log


def test_deliveries_are_listed_with_their_answers_in_the_admin(admin_client, shop_key, receiver):
    subscribe(shop_key[0], receiver.url)
    raw_refunds_push(shop_key[0], [item()], by="API：wms")
    receiver.answers = [500]
    webhook_deliver_due()
    delivery = WebhookDelivery.objects.get()
    listing = admin_client.get("/admin/api/webhookdelivery/").content.decode()
    assert "接收方返回 HTTP 500" in listing
    page = admin_client.get(f"/admin/api/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "boom" in page and "raw_refund.changed" in page


def test_a_platform_sync_change_reaches_subscribers_through_the_task(
    shop_key, receiver, django_capture_on_commit_callbacks
):
    """The sync writes its events in bulk (core.audit.write_events): the outbox sees them too, and the
    Celery task (run here in-process, eagerly) delivers them."""
    from erp_aftersales.celery import app
    from platforms.jd.adapter import refund_page
    from sa_sync.models import SyncKind, SyncRun
    from sa_sync.platform_sync import upsert_refunds

    shop = shop_key[0]
    subscribe(shop, receiver.url, events=["raw_refund.changed"])
    run = SyncRun.objects.create(shop=shop, kind=SyncKind.REFUNDS)
    jd_row = {
        "id": 8000000001,
        "orderId": 3000000001,
        "status": 0,
        "applyTime": "2026-11-28 10:00:00",
    }
    upsert_refunds(shop, refund_page([jd_row]), run=run)  # new slips carry no event (the run records them)
    assert not OutboxEvent.objects.exists()
    app.conf.update(task_always_eager=True)
    try:
        with django_capture_on_commit_callbacks(execute=True) as kicks:
            upsert_refunds(
                shop, refund_page([{**jd_row, "status": 11, "checkTime": "2026-11-28 11:00:00"}]), run=run
            )
    finally:
        app.conf.update(task_always_eager=False)
    assert len(kicks) == 1
    event = OutboxEvent.objects.get()
    assert (
        event.payload["change"]["to"] == "取消退款" and event.payload["change"]["actor"] == "系统：平台同步"
    )
    # Delivered by the task kicked after commit, not by this test calling the sender.
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
    assert json.loads(receiver.requests[0]["body"])["data"]["platform_status"] == 1
