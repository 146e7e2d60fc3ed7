from celery import shared_task

from . import services


@shared_task(name="refunds.run_writeback_job", ignore_result=True, acks_late=True)
def run_writeback_job(job_id: int):
    services.run_writeback_job(job_id)
