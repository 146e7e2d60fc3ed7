"""The returns tick beat runs (django-celery-beat's DatabaseScheduler; ops may change its interval).
Created by a migration; re-running keeps an interval ops have changed."""

from core.schedules import ensure_interval_task

RETURNS_TICK_NAME = "退货：自动建退货单与退货入仓回传跟进"
RETURNS_TICK_TASK = "returns.tick"  # returns.tasks.TICK_TASK: a wire name, kept as is


def ensure_returns_schedule(apps, schema_editor=None, every_seconds=60):
    ensure_interval_task(
        apps,
        name=RETURNS_TICK_NAME,
        task=RETURNS_TICK_TASK,
        every_seconds=every_seconds,
        description="为开启“退货原始退款单自动建退货单”的店铺建退货单；平台同步到“等待收货”的已入库退货单自动回传退货入仓。",
    )
