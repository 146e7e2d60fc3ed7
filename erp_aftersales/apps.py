from django.apps import AppConfig


class ErpAftersalesConfig(AppConfig):
    name = "erp_aftersales"
    verbose_name = "系统"

    def ready(self):
        from . import audit  # noqa: F401  (connects the FSM transition → event log handler)
