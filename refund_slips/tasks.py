"""Thin Celery tasks over the refund-slip services; idempotent (a completed slip is no longer a
candidate, so a redelivered tick does nothing twice)."""

from celery import shared_task

from . import services
from .schedules import SWEEP_TASK


@shared_task(name=SWEEP_TASK, ignore_result=True)
def refund_slips_sweep():
    services.refund_slips_sweep()
