"""The periodic tasks beat runs (django-celery-beat's DatabaseScheduler: the administrator can change
them at run time at the end of 系统). Created by a migration; re-running keeps a changed interval."""

from core.schedules import ensure_interval_task

PLATFORM_SYNC_TASK_NAME = "平台同步：下载京东订单和退款单"
RECOVERY_TASK_NAME = "回传恢复：接手中断的退款回传"
TOKEN_REFRESH_TASK_NAME = "授权刷新：京东 Access Token 到期前刷新"
TOKEN_REFRESH_EVERY_SECONDS = 30 * 60


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


def ensure_token_refresh_schedule(apps, schema_editor=None):
    """The token refresh sweep, every 30 minutes (sa_sync.credentials.refresh_expiring_tokens): a
    token is refreshed within JD_TOKEN_REFRESH_BEFORE_HOURS of its expiry, so a sweep JD does not
    answer is tried again many times before the token runs out."""
    ensure_interval_task(
        apps,
        name=TOKEN_REFRESH_TASK_NAME,
        task="sa_sync.refresh_expiring_tokens",
        every_seconds=TOKEN_REFRESH_EVERY_SECONDS,
        description="京东 Access Token 到期前用 Refresh Token 刷新；京东拒绝时店铺暂停调用并提示重新授权。",
    )
