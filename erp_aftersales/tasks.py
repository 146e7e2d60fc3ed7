"""Thin Celery tasks of the project layer: load the id, call the function that does the work."""

from celery import shared_task

from . import exports


@shared_task(name="erp_aftersales.export_job_run", acks_late=True)
def export_job_run(job_id):
    exports.export_job_run(job_id)
