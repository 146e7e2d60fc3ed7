"""The periodic tasks beat runs (django-celery-beat's DatabaseScheduler: the administrator can change
them at run time at the end of 系统). Created by a migration; re-running keeps a changed interval."""

from core.schedules import ensure_interval_task

PLATFORM_SYNC_TASK_NAME = "平台同步：下载京东订单和退款单"
RECOVERY_TASK_NAME = "回传恢复：接手中断的退款回传"


def ensure_platform_sync_schedule(apps, schema_editor=None, every_seconds=None):
    from django.conf import settings

    ensure_interval_task(
        apps,
        name=PLATFORM_SYNC_TASK_NAME,
        task="sa_sync.sync_all_shops",
        every_seconds=every_seconds or getattr(settings, "PLATFORM_SYNC_INTERVAL_SECONDS", 60),
        description="按店铺从京东下载订单和退款申请（增量时间窗口）。",
    )


def ensure_recovery_schedule(apps, schema_editor=None):
    """The writeback recovery sweep, every minute (sa_sync.writeback.writeback_recover)."""
    ensure_interval_task(
        apps,
        name=RECOVERY_TASK_NAME,
        task="sa_sync.writeback_recover",
        every_seconds=60,
        description="处理进程中断后：恢复批量回传任务，超时的“回传中”退款单重置为可重新回传。",
    )
