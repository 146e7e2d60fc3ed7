from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from api.views import DocsView, SchemaView

from .health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("api/v1/", include("api.urls")),
    # Open in development; in production for staff logged in to the back office or an API key.
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
]

# Under /api/ the site's 404 and 500 answer in the API's JSON error shape.
handler404 = "api.errors.not_found"
handler500 = "api.errors.server_error"
