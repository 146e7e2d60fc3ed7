"""The periodic tasks beat runs (django-celery-beat's DatabaseScheduler: ops can change them at run
time in 系统设置 → 定时任务). Created by a migration; re-running keeps an interval ops have changed."""

PLATFORM_SYNC_TASK_NAME = "平台同步：下载京东订单和退款单"
RECOVERY_TASK_NAME = "回传恢复：接手中断的退款回传"


def ensure_platform_sync_schedule(apps, schema_editor=None, every_seconds=None):
    from django.conf import settings

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every = every_seconds or getattr(settings, "PLATFORM_SYNC_INTERVAL_SECONDS", 60)
    if PeriodicTask.objects.filter(name=PLATFORM_SYNC_TASK_NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    PeriodicTask.objects.create(
        name=PLATFORM_SYNC_TASK_NAME,
        task="sa_sync.sync_all_shops",
        interval=interval,
        enabled=True,
        description="按店铺从京东下载订单和退款申请（增量时间窗口）。",
    )


def ensure_recovery_schedule(apps, schema_editor=None):
    """The writeback recovery sweep, every minute (sa_sync.writeback.writeback_recover)."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=RECOVERY_TASK_NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.create(
        name=RECOVERY_TASK_NAME,
        task="sa_sync.writeback_recover",
        interval=interval,
        enabled=True,
        description="处理进程中断后：恢复批量回传任务，超时的“回传中”退款单重置为可重新回传。",
    )
