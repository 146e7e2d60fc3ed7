"""Thin Celery tasks around sa_sync.services. Idempotent: a redelivered task re-runs a sync whose
lease makes a concurrent duplicate a no-op, and whose upserts change nothing twice."""

from celery import shared_task

from orders.models import Shop

from . import services
from .models import SyncKind


@shared_task(name="sa_sync.sync_all_shops", ignore_result=True)
def sync_all_shops():
    """Beat's tick: one task per shop and kind, so a slow or failing shop never holds up the others
    (each run's lease keeps a shop's runs from overlapping)."""
    for shop_id in services.shops_to_sync().values_list("pk", flat=True):
        for kind in SyncKind.values:
            sync_shop.delay(shop_id, kind, trigger="定时任务")


@shared_task(name="sa_sync.sync_shop", ignore_result=True)
def sync_shop(shop_id: int, kind: str, trigger: str = "手动"):
    shop = Shop.objects.filter(pk=shop_id, is_active=True).first()
    if shop is not None:
        services.sync_shop(shop, kind, trigger=trigger)
