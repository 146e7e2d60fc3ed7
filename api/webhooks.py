"""Webhook delivery: claim due deliveries, POST them signed, record the answer, back off on failure.

Claims are short transactions (skip_locked on PostgreSQL, so two workers never send the same row at
once); the HTTP call runs outside any transaction. A delivery is retried with exponential backoff
(next_attempt_at in the database, polled by the periodic sweep) until a 2xx or WEBHOOK_MAX_ATTEMPTS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-ERP-Signature"
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=6)
CLAIM_LEASE = timedelta(minutes=2)  # a worker that died mid-send: the row is due again after this
HISTORY_KEPT = 20
RESPONSE_KEPT = 2000


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_for(delivery: WebhookDelivery) -> bytes:
    event = delivery.event
    document = {"id": event.pk, "created_at": event.created_at.isoformat(), **event.payload}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def retry_at(attempts: int, now):
    return now + min(RETRY_BASE * (2 ** max(0, attempts - 1)), RETRY_CAP)


def _claim(limit: int, now) -> list[int]:
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + CLAIM_LEASE)
    return ids


def webhook_deliver_due(*, limit: int = 100, now=None, client: httpx.Client | None = None) -> int:
    """Send what is due; returns how many were attempted."""
    clock = now  # tests pass a time; otherwise each outcome is stamped when it arrives
    now = now or timezone.now()
    ids = _claim(limit, now)
    if not ids:
        return 0
    deliveries = WebhookDelivery.objects.select_related("event", "subscription").filter(pk__in=ids)
    own_client = client is None
    client = client or httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False)
    try:
        for delivery in deliveries.order_by("pk"):
            _send(client, delivery, clock)
    finally:
        if own_client:
            client.close()
    return len(ids)


def _send(client: httpx.Client, delivery: WebhookDelivery, now=None) -> None:
    subscription = delivery.subscription
    body = body_for(delivery)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(subscription.secret, body),
        "X-ERP-Event": delivery.event.event_type,
        "X-ERP-Delivery": str(delivery.pk),
        "User-Agent": "erp-aftersales-webhook/1",
    }
    started = time.monotonic()
    status_code, text, error = None, "", ""
    try:
        response = client.post(subscription.url, content=body, headers=headers)
        status_code, text = response.status_code, response.text[:RESPONSE_KEPT]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - started) * 1000)
    _record(delivery.pk, status_code, text, error, duration_ms, now)


def _record(delivery_id: int, status_code, text: str, error: str, duration_ms: int, now=None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        ok = status_code is not None and 200 <= status_code < 300
        if not ok and not error:
            error = f"接收方返回 HTTP {status_code}"
        delivery.last_status_code = status_code
        delivery.last_response = text
        delivery.last_error = "" if ok else error
        delivery.history = [
            *delivery.history,
            {
                "at": now.isoformat(),
                "status_code": status_code,
                "response": text[:300],
                "error": "" if ok else error,
                "duration_ms": duration_ms,
            },
        ][-HISTORY_KEPT:]
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                DeliveryStatus.DELIVERED,
                now,
                None,
            )
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delivery.next_attempt_at = retry_at(delivery.attempts, now)
        delivery.save()
