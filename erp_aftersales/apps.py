from django.apps import AppConfig


class ErpAftersalesConfig(AppConfig):
    """The project on top: settings, URLs, the Celery app, the demo data and `run_stack`."""

    name = "erp_aftersales"
    verbose_name = "项目"
