from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin_utils import BigListMixin, badge

from . import admin_rules  # noqa: F401  (registers the auto-writeback settings page and run history)
from .models import SyncRun, SyncRunStatus, WritebackJob, WritebackOutcome

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


@admin.register(WritebackJob)
class WritebackJobAdmin(admin.ModelAdmin):
    """批量回传任务: a big selection written back in the background; its page shows the progress."""

    list_display = [
        "id",
        "created_at",
        "created_by",
        "trigger",
        "status",
        "total",
        "done",
        "succeeded",
        "failed",
    ]
    list_filter = ["status", "trigger"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "<int:job_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="sa_sync_writeback_job",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A job is never edited: only those who may see jobs are sent on to its progress page.
        if request.method != "GET" or not self.has_view_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:sa_sync_writeback_job", args=[object_id]))

    def progress_view(self, request, job_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(WritebackJob, pk=job_id)
        failures = (
            job.attempts.filter(outcome__in=[WritebackOutcome.FAILED, WritebackOutcome.REFUSED])
            .select_related("slip")
            .order_by("id")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"批量回传 #{job.pk}",
            "opts": self.model._meta,
            "job": job,
            "percent": int(job.done * 100 / job.total) if job.total else 100,
            "failures": failures,
            "list_url": reverse("admin:refunds_rawrefund_changelist"),
        }
        return TemplateResponse(request, "admin/sa_sync/writeback_job.html", context)
