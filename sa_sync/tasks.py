"""Thin Celery tasks: load ids, call a service. Idempotent, since a broker may deliver twice: a sync's
lease makes a concurrent duplicate a no-op and its upserts change nothing twice; a writeback job
skips the slips it already handled; an auto-writeback run finds the previous run's lease.

Task names are wire identifiers: queued messages and beat's rows carry them, so they stay as they
were when the writeback lived in `refunds`."""

from celery import shared_task

from orders.models import Shop

from . import auto_writeback, credentials, platform_sync, writeback


@shared_task(name="sa_sync.sync_all_shops", ignore_result=True)
def sync_all_shops():
    """Beat's tick: one task per shop and kind, so a slow or failing shop never holds up the others
    (each run's lease keeps a shop's runs from overlapping).

    A busy day must not pile ticks up, nor favour the first shops: a shop and kind whose task still
    waits in the queue, or whose download is running, gets no second one (`syncs_to_queue`), so the
    sync queue holds at most one task per shop and kind and the workers go round all the shops."""
    for shop_id, kind in platform_sync.syncs_to_queue():
        sync_shop.delay(shop_id, kind, trigger="定时任务")


@shared_task(name="sa_sync.sync_shop", ignore_result=True)
def sync_shop(shop_id: int, kind: str, trigger: str = "手动"):
    shop = Shop.objects.filter(pk=shop_id, is_active=True).first()
    if shop is not None:
        platform_sync.shop_sync(shop, kind=kind, trigger=trigger)


@shared_task(name=writeback.WRITEBACK_JOB_TASK, ignore_result=True, acks_late=True)
def run_writeback_job(job_id: int):
    writeback.writeback_job_run(job_id)


@shared_task(name=auto_writeback.TASK_NAME, ignore_result=True, acks_late=True)
def run_auto_writeback(shop_id: int):
    """Beat's task per enabled rule."""
    auto_writeback.auto_writeback_run(shop_id)


@shared_task(name="sa_sync.writeback_recover", ignore_result=True)
def writeback_recover():
    """Beat's sweep every minute: resumes jobs whose worker died, releases abandoned claims."""
    writeback.writeback_recover()


@shared_task(name="sa_sync.refresh_expiring_tokens", ignore_result=True)
def refresh_expiring_tokens():
    """Beat's sweep every 30 minutes: tokens expiring soon are refreshed (a shop's refresh holds a
    lease on the shop row, so an overlapping sweep never spends the same refresh token twice)."""
    credentials.refresh_expiring_tokens()
