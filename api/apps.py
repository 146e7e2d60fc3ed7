from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "开放接口"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The webhook outbox listens to the event log: every state change the domain records is
        # offered to the shop's subscriptions in the same transaction (api/outbox.py).
        from core.audit import on_events_written

        from . import outbox, schema  # noqa: F401  (schema registers the Bearer scheme)

        on_events_written(outbox.events_written)
