"""The periodic tasks beat runs (django-celery-beat's DatabaseScheduler). Each app creates its own
from a migration through this one function; re-running keeps an interval ops have changed."""


def ensure_interval_task(apps, *, name: str, task: str, every_seconds: int, description: str) -> None:
    """Creates the periodic task `name` (running `task` every `every_seconds`) unless it exists.
    `apps` is a migration's app registry (or django.apps.apps)."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=name).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    PeriodicTask.objects.create(
        name=name, task=task, interval=interval, enabled=True, description=description
    )
