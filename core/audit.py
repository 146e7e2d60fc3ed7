"""The event log: every state change leaves a row (who, when, from, to, why).

FSM transitions record themselves (post_transition below) from the `by=` and `reason=` keyword
arguments every transition method takes; other changes call `record_event` directly. Either way the
row is written in the caller's transaction, so a rolled-back change leaves no event behind.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from django.contrib.contenttypes.models import ContentType
from django.dispatch import receiver
from django_fsm.signals import post_transition

from .models import Event

SYSTEM = "系统"


def actor_name(by) -> str:
    """`by` is a user, a string naming a system actor (e.g. "系统：平台同步"), or None (系统)."""
    if by is None:
        return SYSTEM
    return by if isinstance(by, str) else by.get_username()


def actor_user(by):
    """The user behind `by`, or None for a system actor (a string, None, an unsaved user)."""
    return by if getattr(by, "pk", None) else None


def actor_fields(by) -> dict:
    return {"actor": actor_user(by), "actor_name": actor_name(by)}


def build_event(
    subject, *, action: str, by=None, field: str = "", from_state="", to_state="", reason=""
) -> Event:
    """An unsaved event row, for callers that write many at once (bulk_create)."""
    if subject.pk is None:
        raise ValueError("an event needs a saved object")
    event = Event(
        content_type=ContentType.objects.get_for_model(subject, for_concrete_model=True),
        object_id=subject.pk,
        # Labels and field names come from code and fit; cut rather than fail a state change over
        # its log line if one ever does not (PostgreSQL refuses an over-long varchar).
        action=_fit("action", action),
        field=_fit("field", field),
        from_state=str(from_state if from_state is not None else ""),
        to_state=str(to_state if to_state is not None else ""),
        reason=reason or "",
        **actor_fields(by),
    )
    # Kept in memory (not a column): listeners build their payload from the object as it is now.
    event.subject_instance = subject
    return event


_listeners: list = []


def on_events_written(listener):
    """Register `listener(events)`, called inside the writer's transaction after the events are
    written. A listener that raises rolls the change back: keep it to database writes."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def _notify(events):
    if events:
        for listener in _listeners:
            listener(events)


def write_events(events) -> None:
    """Write built events (build_event) in one INSERT and tell the listeners."""
    events = list(events)
    if events:
        Event.objects.bulk_create(events)
        _notify(events)


def _fit(name: str, value: str) -> str:
    return str(value or "")[: Event._meta.get_field(name).max_length]


_batch = threading.local()


@contextmanager
def batched_events():
    """Inside it, events (including the FSM's) are collected and written in one INSERT on exit.
    Use it inside the transaction of the change it records: an exception drops both."""
    if getattr(_batch, "events", None) is not None:
        yield
        return
    _batch.events = []
    try:
        yield
        from .bulk import insert_rows

        events, _batch.events = _batch.events, None
        insert_rows(Event, events)
        _notify(events)
    finally:
        _batch.events = None


def record_event(subject, **kwargs) -> Event:
    event = build_event(subject, **kwargs)
    pending = getattr(_batch, "events", None)
    if pending is not None:
        pending.append(event)
    else:
        event.save()
        _notify([event])
    return event


def state_label(instance, field_name: str, value) -> str:
    field = instance._meta.get_field(field_name)
    return str(dict(field.flatchoices).get(value, value))


@receiver(post_transition)
def _record_fsm_transition(sender, instance, name, source, target, method_kwargs=None, **kwargs):
    field = kwargs.get("field")
    field_name = getattr(field, "name", "")
    action = getattr(type(instance), "TRANSITION_LABELS", {}).get(name, name)
    kwargs_ = method_kwargs or {}
    record_event(
        instance,
        action=action,
        by=kwargs_.get("by"),
        field=field_name,
        from_state=state_label(instance, field_name, source) if field_name else source,
        to_state=state_label(instance, field_name, target) if field_name else target,
        reason=kwargs_.get("reason", ""),
    )


def events_for(subject):
    return Event.objects.filter(
        content_type=ContentType.objects.get_for_model(subject, for_concrete_model=True), object_id=subject.pk
    ).select_related("actor")
