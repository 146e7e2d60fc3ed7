from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "开放接口"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The webhook outbox listens to the event log: every state change the domain records is
        # offered to the shop's subscriptions in the same transaction (api/outbox.py).
        from core.audit import on_events_written

        # schema registers the Bearer scheme; tasks registers the delivery task in every process (the
        # web process kicks it after commit, and Celery's autodiscovery only runs in the worker).
        from . import outbox, schema, tasks  # noqa: F401

        on_events_written(outbox.events_written)
