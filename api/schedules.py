"""Beat's webhook sweep: delivers what is due (new rows whose kick was lost, and retries)."""

from core.schedules import ensure_interval_task

WEBHOOK_TICK_NAME = "Webhook：投递到期的事件"
WEBHOOK_TICK_TASK = "api.deliver_webhooks"


def ensure_webhook_schedule(apps, schema_editor=None, every_seconds=30):
    ensure_interval_task(
        apps,
        name=WEBHOOK_TICK_NAME,
        task=WEBHOOK_TICK_TASK,
        every_seconds=every_seconds,
        description="发送到期的 Webhook 投递（新事件与失败后按退避重试的事件）。",
    )
