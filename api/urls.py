"""/api/v1/: one router. More endpoints register here (`router.register(...)`) with views built on
`api.views.ApiView`, which brings key auth, throttling and the error shape. Every path also answers
without its final slash (api.views.without_trailing_slash)."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("orders", views.OrderViewSet, basename="order")
router.register("raw-refunds", views.RawRefundViewSet, basename="raw-refund")
router.register("writeback-jobs", views.WritebackJobViewSet, basename="writeback-job")
router.register("return-slips", views.ReturnSlipViewSet, basename="return-slip")
router.register("refund-slips", views.RefundSlipViewSet, basename="refund-slip")
router.register("auto-writeback/runs", views.AutoWritebackRunViewSet, basename="auto-writeback-run")

urlpatterns = [*router.urls, re_path(r"^(?P<path>.*[^/])$", views.without_trailing_slash)]
