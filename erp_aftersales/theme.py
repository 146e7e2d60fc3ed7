"""The admin theme's app config (django-simpleui, see docs/admin.md).

simpleui's own AppConfig.ready() deletes Django's clickjacking middleware from MIDDLEWARE, so that its
tabs (iframes of this same site) load. That would let any other site frame the back office. We keep the
middleware and send `X-Frame-Options: SAMEORIGIN` instead: our own tabs still load, other sites' frames
are refused. This config replaces simpleui's, so its ready() never runs.
"""

from django.apps import AppConfig


class ThemeConfig(AppConfig):
    name = "simpleui"
    label = "simpleui"
    verbose_name = "后台主题"

    def ready(self):
        # Deliberately not calling simpleui's ready(): see the module docstring.
        pass
