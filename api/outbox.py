"""Events out: which recorded changes become webhook events, and the outbox rows written for them.

`events_written` is registered on the event log (core.audit.on_events_written): it runs inside the
transaction that wrote the change, so the outbox row commits or rolls back with it. Delivery happens
later, outside it (api/webhooks.py): a slow or failing receiver never holds up or undoes a change.

An event type is registered with `register_event_type(code, label, model=..., payload=...)`; the
first registration whose model (and, when given, field) matches a recorded event names it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import current_app
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

DELIVER_TASK = "api.deliver_webhooks"


@dataclass(frozen=True)
class EventType:
    code: str
    label: str
    model: str  # "app_label.ModelName"
    fields: frozenset | None  # the event's field must be one of these; None: any
    payload: object  # callable(subject) -> dict


EVENT_TYPES: dict[str, EventType] = {}


def register_event_type(code: str, label: str, *, model: str, payload, fields=None) -> EventType:
    event_type = EventType(code, label, model, frozenset(fields) if fields is not None else None, payload)
    EVENT_TYPES[code] = event_type
    return event_type


def event_type_choices() -> list[tuple[str, str]]:
    return [(code, f"{code}（{t.label}）") for code, t in EVENT_TYPES.items()]


def match(subject, field: str) -> EventType | None:
    label = subject._meta.label
    for event_type in EVENT_TYPES.values():
        if event_type.model == label and (event_type.fields is None or field in event_type.fields):
            return event_type
    return None


# --- the built-in event types -------------------------------------------------------------------
# Each payload is the schema's RawRefundEventData / ReturnSlipEventData / RefundSlipEventData
# (api/serializers.py): objects named by their business keys, times at +08:00 like every REST answer.
def _amount(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def local_time(value) -> str | None:
    """A moment as the API writes it everywhere: ISO 8601 at the back office's time zone (+08:00)."""
    return None if value is None else timezone.localtime(value).isoformat()


def raw_refund_payload(slip) -> dict:
    return {
        "refund_no": slip.refund_no,
        "tid": slip.tid,
        "oid": slip.oid,
        "refund_type": slip.refund_type,
        "platform_status": slip.platform_status,
        "writeback_status": slip.writeback_status,
        "writeback_message": slip.writeback_message,
        "inbound_num": slip.inbound_num,
        "refund_amount": _amount(slip.refund_amount),
        "modified": local_time(slip.platform_modified),
    }


def return_slip_payload(slip) -> dict:
    return {
        "number": slip.number,
        "status": slip.status,
        "tid": slip.order.tid,
        "refund_no": slip.raw_refund.refund_no if slip.raw_refund_id else None,
        "logistics_no": slip.logistics_no,
    }


def refund_slip_payload(slip) -> dict:
    return {
        "number": slip.number,
        "status": slip.status,
        "source": slip.source,
        "tid": slip.order.tid,
        "raw_refund_no": slip.raw_refund.refund_no if slip.raw_refund_id else None,
        "return_slip_number": slip.return_slip.number if slip.return_slip_id else None,
        "amount": _amount(slip.amount),
        "level1_by_name": slip.level1_by_name,
        "level2_by_name": slip.level2_by_name,
        "attention": slip.attention,
    }


register_event_type(
    "raw_refund.writeback",
    "原始退款单回传状态变化",
    model="refunds.RawRefund",
    fields={"writeback_status"},
    payload=raw_refund_payload,
)
register_event_type(
    "raw_refund.changed", "原始退款单新建或变化", model="refunds.RawRefund", payload=raw_refund_payload
)
register_event_type(
    "return_slip.changed", "退货单新建或状态变化", model="returns.ReturnSlip", payload=return_slip_payload
)
register_event_type(
    "refund_slip.changed",
    "退款单新建或状态变化",
    model="refund_slips.RefundSlip",
    payload=refund_slip_payload,
)


# --- the listener -------------------------------------------------------------------------------
def events_written(events) -> None:
    from orders.models import Shop

    from .models import OutboxEvent, WebhookDelivery, WebhookSubscription

    found = []
    for event in events:
        subject = getattr(event, "subject_instance", None)
        shop_id = getattr(subject, "shop_id", None)
        if subject is None or shop_id is None:
            continue
        event_type = match(subject, event.field)
        if event_type is not None:
            found.append((event_type, shop_id, subject, event))
    if not found:
        return
    subscriptions = [
        s
        for s in WebhookSubscription.objects.filter(
            is_active=True, shop_id__in={shop_id for _, shop_id, _, _ in found}
        ).only("id", "shop_id", "events")
    ]
    if not subscriptions:
        return
    shop_nos = dict(
        Shop.objects.filter(pk__in={s.shop_id for s in subscriptions}).values_list("pk", "shop_no")
    )
    now = timezone.now()
    rows, targets = [], []
    for event_type, shop_id, subject, event in found:
        wanted = [s for s in subscriptions if s.shop_id == shop_id and event_type.code in (s.events or [])]
        if not wanted:
            continue
        rows.append(
            OutboxEvent(
                shop_id=shop_id,
                event_type=event_type.code,
                object_id=subject.pk,
                payload={
                    "type": event_type.code,
                    "shop_no": shop_nos.get(shop_id, ""),
                    "occurred_at": local_time(now),
                    "change": {
                        "action": event.action,
                        "field": event.field,
                        "from": event.from_state,
                        "to": event.to_state,
                        "reason": event.reason,
                        "actor": event.actor_name,
                    },
                    "data": event_type.payload(subject),
                },
            )
        )
        targets.append(wanted)
    if not rows:
        return
    OutboxEvent.objects.bulk_create(rows)
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(event=row, subscription=subscription, next_attempt_at=now)
            for row, wanted in zip(rows, targets, strict=True)
            for subscription in wanted
        ]
    )
    transaction.on_commit(kick_delivery)


def kick_delivery() -> None:
    """After commit: ask a worker to deliver now. If the broker is down the beat sweep delivers."""
    try:
        current_app.tasks[DELIVER_TASK].delay()
    except Exception:  # the change is committed; delivery is retried by the sweep
        logger.warning("webhook delivery task not queued; the periodic sweep will deliver", exc_info=True)
