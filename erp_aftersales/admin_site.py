from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import Http404
from django.urls import path

# Where each model shows in the menu: users think in 订单 / 系统设置, not in Django apps.
MENU = [
    (
        "订单",
        [
            "orders.Order",
            "orders.OrderLine",
            "refunds.RawRefund",
            "returns.ReturnSlip",
            "refund_slips.RefundSlip",
            "sa_sync.WritebackJob",
        ],
    ),
    ("仓库", ["orders.PendingInterception"]),
    (
        "系统设置",
        [
            "orders.Shop",
            "returns.ShopReturnSettings",
            "refund_slips.ShopRefundSettings",
            "sa_sync.AutoWritebackRule",
            "sa_sync.AutoWritebackRun",
            "sa_sync.SyncRun",
            "sa_sync.SyncRejectedRow",
        ],
    ),
    ("开放接口", ["api.ApiKey", "api.WebhookSubscription", "api.WebhookDelivery", "api.OutboxEvent"]),
    # Celery's schedule pages are the administrator's alone (SuperuserOnlyAdmin below): they sit at
    # the end of 系统, not as a section of their own; ops schedule on the rules page.
    (
        "系统",
        [
            "core.Event",
            "auth.User",
            "auth.Group",
            "django_celery_beat.PeriodicTask",
            "django_celery_beat.IntervalSchedule",
            "django_celery_beat.CrontabSchedule",
            "django_celery_beat.ClockedSchedule",
            "django_celery_beat.SolarSchedule",
        ],
    ),
]


class ErpAdminSite(admin.AdminSite):
    site_header = "京东售后管理后台"
    site_title = "京东售后管理后台"
    index_title = "售后工作台"

    def get_urls(self):
        from . import dashboard, exports

        def model_admin_for(app_label, model_name):
            for model, model_admin in self._registry.items():
                if (model._meta.app_label, model._meta.model_name) == (app_label, model_name):
                    if getattr(model_admin, "export_enabled", False):
                        return model_admin
            raise Http404("该列表不能导出")

        def export(request, app_label, model_name):
            return exports.export_view(model_admin_for(app_label, model_name), request)

        urls = [
            path(
                "dashboard/",
                self.admin_view(lambda r: dashboard.dashboard_view(self, r)),
                name="erp_dashboard",
            ),
            path(
                "export/job/<int:pk>/",
                self.admin_view(lambda r, pk: exports.export_job_view(self, r, pk)),
                name="erp_export_job",
            ),
            path(
                "export/job/<int:pk>/download/",
                self.admin_view(lambda r, pk: exports.export_download_view(self, r, pk)),
                name="erp_export_download",
            ),
            path("export/<str:app_label>/<str:model_name>/", self.admin_view(export), name="erp_export"),
        ]
        return urls + super().get_urls()

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label:
            return apps
        by_name = {}
        for app in apps:
            for model in app["models"]:
                by_name[f"{app['app_label']}.{model['object_name']}"] = (app, model)
        placed = set()
        grouped = []
        for title, names in MENU:
            models = [by_name[name][1] for name in names if name in by_name]
            if models:
                first_app = by_name[next(n for n in names if n in by_name)][0]
                grouped.append({**first_app, "name": title, "models": models})
                placed.update(n for n in names if n in by_name)
        for app in apps:
            rest = [m for m in app["models"] if f"{app['app_label']}.{m['object_name']}" not in placed]
            if rest:
                grouped.append({**app, "models": rest})
        return grouped


class SuperuserOnlyAdmin:
    """For admin pages whose mere viewing rights are dangerous: django-celery-beat lets anyone who can
    see the task list start any task (its "run tasks" action declares no permission). Ops configure
    schedules through 售后设置 (the auto-writeback rules page); the raw tasks are the administrator's."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    has_add_permission = has_module_permission

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    has_delete_permission = has_change_permission


SUPERUSER_ONLY_APPS = {"django_celery_beat"}


def restrict_to_superusers(site, app_labels=SUPERUSER_ONLY_APPS):
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label in app_labels and not isinstance(model_admin, SuperuserOnlyAdmin):
            restricted = type(
                f"SuperuserOnly{type(model_admin).__name__}", (SuperuserOnlyAdmin, type(model_admin)), {}
            )
            site.unregister(model)
            site.register(model, restricted)


class ErpAdminConfig(AdminConfig):
    default_site = "erp_aftersales.admin_site.ErpAdminSite"

    def ready(self):
        super().ready()  # autodiscover: third-party apps register their admins here
        from django.contrib.admin import site

        restrict_to_superusers(site)
