"""Thin Celery tasks around sa_sync.services. Idempotent: a redelivered task re-runs a sync whose
lease makes a concurrent duplicate a no-op, and whose upserts change nothing twice."""

from celery import shared_task

from orders.models import Shop

from . import services


@shared_task(name="sa_sync.sync_all_shops", ignore_result=True)
def sync_all_shops():
    services.sync_all_shops(trigger="定时任务")


@shared_task(name="sa_sync.sync_shop", ignore_result=True)
def sync_shop(shop_id: int, kind: str, trigger: str = "手动"):
    shop = Shop.objects.filter(pk=shop_id, is_active=True).first()
    if shop is not None:
        services.sync_shop(shop, kind, trigger=trigger)
