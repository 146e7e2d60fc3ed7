"""Thin Celery tasks. Idempotent: a delivery is claimed before it is sent."""

from celery import shared_task

from . import webhooks
from .outbox import DELIVER_TASK


@shared_task(name=DELIVER_TASK, ignore_result=True)
def deliver_webhooks():
    # Drain what is due now in batches; the periodic sweep picks up retries as they fall due.
    while webhooks.webhook_deliver_due(limit=100):
        pass
