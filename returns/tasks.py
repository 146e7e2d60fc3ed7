"""Thin Celery tasks over the returns services; idempotent (a redelivered tick creates nothing twice:
a raw refund slip that has a return slip is no longer a candidate, and the writeback is exactly-once)."""

from celery import shared_task

from . import services
from .schedules import RETURNS_TICK_TASK as TICK_TASK


@shared_task(name=TICK_TASK, ignore_result=True)
def returns_tick():
    """Beat's tick: return slips for new 退货 raw refund slips (shops that switched it on), the buyer's
    waybill onto return slips that had none (JD shows it once the buyer shipped), then the
    退货入仓 writebacks that became possible since (a platform sync moved a slip to 等待收货)."""
    services.return_slips_auto_create()
    services.return_slip_waybills_fill()
    services.return_writeback_followup()
