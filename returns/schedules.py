"""The returns tick beat runs (django-celery-beat's DatabaseScheduler; ops may change its interval).
Created by a migration; re-running keeps an interval ops have changed."""

RETURNS_TICK_NAME = "退货：自动建退货单与退货入仓回传跟进"
RETURNS_TICK_TASK = "returns.tick"  # returns.tasks.TICK_TASK: a wire name, kept as is


def ensure_returns_schedule(apps, schema_editor=None, every_seconds=60):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=RETURNS_TICK_NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    PeriodicTask.objects.create(
        name=RETURNS_TICK_NAME,
        task=RETURNS_TICK_TASK,
        interval=interval,
        enabled=True,
        description="为开启“退货原始退款单自动建退货单”的店铺建退货单；平台同步到“等待收货”的已入库退货单自动回传退货入仓。",
    )
