"""Webhook delivery: claim due deliveries, POST them signed, record the answer, back off on failure.

Claims are short transactions (skip_locked on PostgreSQL, so two workers never send the same row at
once); the HTTP call runs outside any transaction. A delivery is retried with exponential backoff
(next_attempt_at in the database, polled by the periodic sweep) until a 2xx or WEBHOOK_MAX_ATTEMPTS.

Every attempt checks the receiver address again (api/ssrf.py) and connects only to the address that
check resolved; redirects are never followed; what the receiver answered is kept as its status and a
short excerpt with control characters removed (ops read it in the admin).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import unicodedata
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery
from .outbox import local_time
from .ssrf import UnsafeWebhookUrl, webhook_target

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-ERP-Signature"
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=6)
CLAIM_LEASE = timedelta(minutes=2)  # a worker that died mid-send: the row is due again after this
HISTORY_KEPT = 20
RESPONSE_KEPT = 200  # characters of the receiver's answer kept (sanitised): enough to read an error
RESPONSE_READ_BYTES = 4096  # read no further: a receiver cannot make the worker download a large body
ERROR_KEPT = 500  # WebhookDelivery.last_error's length


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_for(delivery: WebhookDelivery) -> bytes:
    """The event as the schema's RawRefundEvent / ReturnSlipEvent / RefundSlipEvent; times at +08:00."""
    event = delivery.event
    document = {"id": event.pk, "created_at": local_time(event.created_at), **event.payload}
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
    client = client or new_client()
    try:
        for delivery in deliveries.order_by("pk"):
            _send(client, delivery, clock)
    finally:
        if own_client:
            client.close()
    return len(ids)


def new_client() -> httpx.Client:
    # trust_env=False: an HTTP(S)_PROXY would resolve the receiver's name itself, after our check.
    # Nothing kept alive either (see the Connection header in _send).
    return httpx.Client(
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def excerpt(text: str, limit: int = RESPONSE_KEPT) -> str:
    """One line of printable text: control and format characters (bidi overrides, zero-width …) dropped,
    runs of white space made one space, at most `limit` characters. The admin escapes it as well."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    kept = " ".join(kept.split())
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def _read_answer(response: httpx.Response) -> str:
    if response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return "（压缩的响应内容，未保存）"  # asked for identity; decompressing could be made to blow up
    raw = b""
    for chunk in response.iter_raw():
        raw += chunk
        if len(raw) >= RESPONSE_READ_BYTES:
            break
    try:
        text = raw[:RESPONSE_READ_BYTES].decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw[:RESPONSE_READ_BYTES].decode("utf-8", errors="replace")
    return excerpt(text)


def _send(client: httpx.Client, delivery: WebhookDelivery, now=None) -> None:
    subscription = delivery.subscription
    started = time.monotonic()
    status_code, text, error = None, "", ""
    try:
        target = webhook_target(subscription.url)
    except UnsafeWebhookUrl as exc:
        # Also what an old subscription saved before the rule existed gets: a reason, and no request.
        logger.warning("webhook delivery %s refused: %s", delivery.pk, exc.message)
        _record(delivery.pk, None, "", exc.message[:ERROR_KEPT], 0, now)
        return
    body = body_for(delivery)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(subscription.secret, body),
        "X-ERP-Event": delivery.event.event_type,
        "X-ERP-Delivery": str(delivery.pk),
        "User-Agent": "erp-aftersales-webhook/1",
        "Accept-Encoding": "identity",
        # One request per connection, whoever built the client: a connection is keyed by address, and
        # one set up (and its certificate checked) for one name must not carry a request for another.
        "Connection": "close",
        # The request goes to the checked address; the receiver still sees its own name, in the Host
        # header and (https) in the TLS handshake, where the certificate is verified for that name.
        "Host": target.url.netloc.decode("ascii"),
    }
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    pinned = target.url.copy_with(host=str(target.address))
    try:
        with client.stream(
            "POST", pinned, content=body, headers=headers, follow_redirects=False, extensions=extensions
        ) as response:
            status_code, text = response.status_code, _read_answer(response)
            if 300 <= status_code < 400:
                location = excerpt(response.headers.get("location", ""))
                error = (
                    f"接收方返回重定向 HTTP {status_code}（指向 {location or '未给出'}）：Webhook 不跟随重定向，"
                    "请把接收地址改为最终地址"
                )
    except httpx.HTTPError as exc:
        error = excerpt(f"{type(exc).__name__}: {exc}", ERROR_KEPT)
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
                "at": local_time(now),
                "status_code": status_code,
                "response": text,
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
