"""Thin Celery tasks: load ids, call a service. Idempotent, since a broker may deliver twice: a sync's
lease makes a concurrent duplicate a no-op and its upserts change nothing twice; a writeback job
skips the slips it already handled; an auto-writeback run finds the previous run's lease.

Task names are wire identifiers: queued messages and beat's rows carry them, so they stay as they
were when the writeback lived in `refunds`."""

from celery import shared_task
from django.conf import settings

from orders.models import Shop

from . import auto_writeback, platform_sync, writeback
from .models import SyncKind


@shared_task(name="sa_sync.sync_all_shops", ignore_result=True)
def sync_all_shops():
    """Beat's tick: one task per shop and kind, so a slow or failing shop never holds up the others
    (each run's lease keeps a shop's runs from overlapping).

    A busy day must not pile ticks up: a shop whose download is running now gets no new task (it
    would find the lease and do nothing), and a task not started within one interval expires
    (the next tick's covers the same window), so the sync queue never holds more than about one
    tick per shop, and a slow shop's backlog cannot push the others back."""
    running = platform_sync.running_syncs()
    expires = max(settings.PLATFORM_SYNC_INTERVAL_SECONDS, 30)
    for shop_id in platform_sync.shops_to_sync().values_list("pk", flat=True):
        for kind in SyncKind.values:
            if (shop_id, kind) not in running:
                sync_shop.apply_async((shop_id, kind), {"trigger": "定时任务"}, expires=expires)


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
