from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

# Where each model shows in the menu: users think in 订单 / 系统设置, not in Django apps.
MENU = [
    (
        "订单",
        [
            "orders.Order",
            "orders.OrderLine",
            "refunds.RawRefund",
            "returns.ReturnSlip",
            "sa_sync.WritebackJob",
        ],
    ),
    ("仓库", ["orders.PendingInterception"]),
    (
        "系统设置",
        [
            "orders.Shop",
            "returns.ShopReturnSettings",
            "sa_sync.AutoWritebackRule",
            "sa_sync.AutoWritebackRun",
            "sa_sync.SyncRun",
            "django_celery_beat.PeriodicTask",
        ],
    ),
    ("系统", ["core.Event", "auth.User", "auth.Group"]),
]


class ErpAdminSite(admin.AdminSite):
    site_header = "京东售后管理后台"
    site_title = "erp_aftersales"
    index_title = "售后工作台"

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


class ErpAdminConfig(AdminConfig):
    default_site = "erp_aftersales.admin_site.ErpAdminSite"
