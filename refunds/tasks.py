from celery import shared_task

from . import services


@shared_task(name="refunds.run_writeback_job", ignore_result=True, acks_late=True)
def run_writeback_job(job_id: int):
    services.run_writeback_job(job_id)


@shared_task(name="refunds.run_auto_writeback", ignore_result=True, acks_late=True)
def run_auto_writeback(shop_id: int):
    """Beat's task per enabled rule. Safe to deliver twice: a second run finds the first one's lease
    (or nothing left to send)."""
    from . import rules_service

    rules_service.run_auto_writeback(shop_id)
