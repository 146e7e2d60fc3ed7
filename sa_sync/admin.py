from django.contrib import admin

from erp_aftersales.admin_utils import BigListMixin, badge

from .models import SyncRun, SyncRunStatus

RUN_COLOURS = {SyncRunStatus.RUNNING: "blue", SyncRunStatus.SUCCEEDED: "green", SyncRunStatus.FAILED: "red"}


@admin.register(SyncRun)
class SyncRunAdmin(BigListMixin, admin.ModelAdmin):
    list_display = [
        "started_at",
        "shop",
        "kind",
        "trigger",
        "status_badge",
        "duration",
        "pages",
        "rows_new",
        "rows_updated",
        "rows_unchanged",
        "error",
    ]
    list_filter = ["shop", "kind", "status", "trigger"]
    list_select_related = ["shop"]

    @admin.display(description="结果", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), RUN_COLOURS[obj.status])

    @admin.display(description="耗时(秒)")
    def duration(self, obj):
        return obj.duration_seconds if obj.duration_seconds is not None else "-"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
