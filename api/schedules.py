"""Beat's webhook sweep: delivers what is due (new rows whose kick was lost, and retries)."""

WEBHOOK_TICK_NAME = "Webhook：投递到期的事件"
WEBHOOK_TICK_TASK = "api.deliver_webhooks"


def ensure_webhook_schedule(apps, schema_editor=None, every_seconds=30):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=WEBHOOK_TICK_NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    PeriodicTask.objects.create(
        name=WEBHOOK_TICK_NAME,
        task=WEBHOOK_TICK_TASK,
        interval=interval,
        enabled=True,
        description="发送到期的 Webhook 投递（新事件与失败后按退避重试的事件）。",
    )
