from django.apps import AppConfig


class SaSyncConfig(AppConfig):
    name = "sa_sync"
    verbose_name = "京东同步"

    def ready(self):
        # Register the tasks in every process (web included), not only in workers: services queue
        # them by name (celery's registry), since tasks import services and not the other way round.
        from . import tasks  # noqa: F401
