from django.apps import AppConfig


class SaSyncConfig(AppConfig):
    name = "sa_sync"
    verbose_name = "京东同步"
