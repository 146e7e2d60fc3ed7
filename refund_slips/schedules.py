"""The refund slips' sweep beat runs (django-celery-beat's DatabaseScheduler; ops may change its
interval). Created by a migration; re-running keeps an interval ops have changed."""

SWEEP_NAME = "退款单：按京东退款成功完成退款单（补漏）"
SWEEP_TASK = "refund_slips.sweep"  # a wire name, kept as is


def ensure_sweep_schedule(apps, schema_editor=None, every_seconds=300):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=SWEEP_NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    PeriodicTask.objects.create(
        name=SWEEP_NAME,
        task=SWEEP_TASK,
        interval=interval,
        enabled=True,
        description="平台同步每页保存后即完成对应退款单；此任务补上同步时处理失败的（京东退款成功→退款完成，取消退款→已取消）。",
    )
