import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin_utils import BigListMixin, ErpModelAdmin, ReadOnlyMixin, badge, exact_search

from . import admin_rules  # noqa: F401  (registers the auto-writeback settings page and run history)
from .models import SyncRejectedRow, SyncRowOutcome, SyncRun, SyncRunStatus, WritebackJob, WritebackOutcome

RUN_COLOURS = {SyncRunStatus.RUNNING: "blue", SyncRunStatus.SUCCEEDED: "green", SyncRunStatus.FAILED: "red"}
REJECTED_LIST = "admin:sa_sync_syncrejectedrow_changelist"


def rejected_rows_link(count: int, **lookup):
    """“N 条未保存” linking to those rows (同步异常数据), for the run list and the shop page."""
    if not count:
        return "0"
    query = "&".join(f"{name}={value}" for name, value in lookup.items())
    return format_html(
        '<a href="{}?{}" style="color:#cf1322">{} 条未保存</a>', reverse(REJECTED_LIST), query, count
    )


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyMixin, BigListMixin, ErpModelAdmin):
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
        "rejected",
        "rows_cut",
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

    @admin.display(description="异常未保存", ordering="rows_rejected")
    def rejected(self, obj):
        return rejected_rows_link(
            obj.rows_rejected, run__id__exact=obj.pk, outcome__exact=SyncRowOutcome.REJECTED
        )


@admin.register(SyncRejectedRow)
class SyncRejectedRowAdmin(ReadOnlyMixin, BigListMixin, ErpModelAdmin):
    """同步异常数据: JD rows the sync set aside (未保存) or saved cut to their columns, with why."""

    list_display = ["created_at", "shop", "kind", "outcome_badge", "platform_id", "reason", "run_link"]
    list_filter = ["outcome", "kind", "shop"]
    list_select_related = ["shop"]
    search_fields = ["platform_id"]
    search_help_text = "输入京东订单号或退款单号（精确匹配）"
    fields = ["run_link", "shop", "kind", "outcome", "platform_id", "reason", "raw_pretty", "created_at"]
    readonly_fields = fields

    @admin.display(description="处理", ordering="outcome")
    def outcome_badge(self, obj):
        colour = "red" if obj.outcome == SyncRowOutcome.REJECTED else "orange"
        return badge(obj.get_outcome_display(), colour)

    @admin.display(description="同步记录")
    def run_link(self, obj):
        url = reverse("admin:sa_sync_syncrun_changelist")
        return format_html('<a href="{}?id={}">{}</a>', url, obj.run_id, obj.run)

    @admin.display(description="京东原始数据")
    def raw_pretty(self, obj):
        text = json.dumps(obj.raw, ensure_ascii=False, indent=2)
        return format_html('<pre style="white-space:pre-wrap;max-width:900px">{}</pre>', text)

    def get_search_results(self, request, queryset, search_term):
        return exact_search(queryset, search_term, ["platform_id"])


@admin.register(WritebackJob)
class WritebackJobAdmin(ReadOnlyMixin, ErpModelAdmin):
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
        # Each slip's latest try in this job: a job retries slips after an outage, and a slip sent
        # on its second try is no longer among those that did not succeed.
        latest = job.attempts.values("slip_id").annotate(last=Max("id")).values("last")
        failures = (
            job.attempts.filter(
                pk__in=latest, outcome__in=[WritebackOutcome.FAILED, WritebackOutcome.REFUSED]
            )
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
