from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground floor every app may use: the event log, bulk SQL, row locks, admin helpers, roles."""

    name = "core"
    verbose_name = "系统"

    def ready(self):
        from . import audit  # noqa: F401  (connects the FSM transition → event log handler)
