"""Export the list a person is looking at (its filters, search and order) to Excel.

Small lists come back at once; past EXPORT_BACKGROUND_OVER rows the export runs as a Celery task
with a progress page, like a big writeback. A ModelAdmin chooses its columns with `export_fields`
(names as in list_display); without it the list's own columns are exported.

Every cell goes through `spreadsheet_cell`: JD's text (退款原因, 买家账号, …) is written as text that
Excel and WPS show, never as a formula they run.
"""

import os
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.utils import display_for_field, label_for_field, lookup_field
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from core.models import ExportJob, ExportStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROGRESS_EVERY = 500
# Parameters that belong to the export itself, not to the list's filter.
NOT_FILTERS = {"p", "_export"}


# A text cell starting with one of these is taken for a formula by spreadsheet programs (openpyxl
# even stores "=…" as one), e.g. a buyer's "=HYPERLINK(…)" or "-cmd|…". OWASP's advice for such
# "formula injection": start the text with a single quote, so it stays text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """A value as a cell: numbers and dates unchanged (they stay numeric, negatives included),
    text with the characters an .xlsx cannot hold removed and a leading formula character
    neutralised with `'`. Every export writes its cells through this one function."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def export_dir():
    path = settings.EXPORT_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_columns(model_admin, request):
    names = getattr(model_admin, "export_fields", None) or [
        n for n in model_admin.get_list_display(request) if n != "action_checkbox"
    ]
    return [(name, str(label_for_field(name, model_admin.model, model_admin))) for name in names]


def cell(model_admin, obj, name):
    field, attr, value = lookup_field(name, obj, model_admin)
    if field is not None and getattr(field, "flatchoices", None):
        return str(dict(field.flatchoices).get(value, value if value is not None else ""))
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, (date, Decimal, int, float)) and not isinstance(value, bool):
        return value
    if value is None:
        return ""
    if field is not None and not isinstance(value, str):
        value = display_for_field(value, field, "")
    return strip_tags(str(value)).strip()


def changelist_queryset(model_admin, request):
    """Exactly the rows the list shows across all its pages: its filters, search and ordering."""
    changelist = model_admin.get_changelist_instance(request)
    return changelist.get_queryset(request)


def write_workbook(model_admin, request, queryset, target, on_progress=None):
    columns = export_columns(model_admin, request)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=str(model_admin.model._meta.verbose_name_plural)[:31])
    sheet.append([spreadsheet_cell(label) for _, label in columns])
    done = 0
    for obj in queryset.iterator(chunk_size=2000):
        sheet.append([spreadsheet_cell(cell(model_admin, obj, name)) for name, _ in columns])
        done += 1
        if on_progress and done % PROGRESS_EVERY == 0:
            on_progress(done)
    workbook.save(target)
    return done


def file_name(model_admin):
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return f"{model_admin.model._meta.verbose_name_plural}-{stamp}.xlsx"


def export_view(model_admin, request):
    """导出Excel on a list: at once when small, else a background job and its progress page."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    queryset = changelist_queryset(model_admin, request)
    over = settings.EXPORT_BACKGROUND_OVER
    if queryset[: over + 1].count() <= over:
        response = HttpResponse(content_type=XLSX)
        write_workbook(model_admin, request, queryset, response)
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(file_name(model_admin))}"
        return response
    opts = model_admin.model._meta
    query = urlencode([(k, v) for k, values in request.GET.lists() if k not in NOT_FILTERS for v in values])
    with transaction.atomic():
        job = ExportJob.objects.create(
            user=request.user,
            model_label=opts.label,
            list_title=str(opts.verbose_name_plural),
            query=query,
            total=queryset.count(),
        )
        from .tasks import export_job_run  # the task module imports this one

        transaction.on_commit(lambda: export_job_run.delay(job.pk))
    messages.info(request, f"共 {job.total} 行，已转为后台导出，完成后可在本页下载。")
    return redirect("admin:erp_export_job", job.pk)


def export_job_run(job_id):
    """The background export (the Celery task's body). Idempotent: a finished job is left alone."""
    from django.apps import apps
    from django.contrib import admin

    job = ExportJob.objects.select_related("user").get(pk=job_id)
    if job.status == ExportStatus.DONE:
        return job
    model = apps.get_model(job.model_label)
    model_admin = admin.site._registry[model]
    opts = model._meta
    request = RequestFactory().get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), data=_pairs(job.query)
    )
    request.user = job.user
    if not model_admin.has_view_permission(request):
        _finish(job, ExportStatus.FAILED, error="导出人已没有查看该列表的权限。")
        return job
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, done=0)
    name = f"export-{job.pk}.xlsx"
    target = export_dir() / name
    partial = target.with_suffix(".part")
    try:
        done = write_workbook(
            model_admin,
            request,
            changelist_queryset(model_admin, request),
            partial,
            on_progress=lambda n: ExportJob.objects.filter(pk=job.pk).update(done=n),
        )
        os.replace(partial, target)
    except Exception as exc:  # the job page must say it failed, whatever failed
        _finish(job, ExportStatus.FAILED, error=f"导出失败：{exc}"[:2000])
        raise
    ExportJob.objects.filter(pk=job.pk).update(done=done, total=done, file_name=name)
    _finish(job, ExportStatus.DONE)
    job.refresh_from_db()
    return job


def _finish(job, status, error=""):
    ExportJob.objects.filter(pk=job.pk).update(status=status, error=error, finished_at=timezone.now())


def _pairs(query):
    from urllib.parse import parse_qsl

    pairs = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        pairs.setdefault(key, []).append(value)
    return pairs


def _quote(name):
    from urllib.parse import quote

    return quote(name)


def own_job(request, pk):
    job = get_object_or_404(ExportJob, pk=pk)
    if job.user_id != request.user.pk and not request.user.is_superuser:
        raise PermissionDenied
    return job


def export_job_view(site, request, pk):
    job = own_job(request, pk)
    opts_label = job.model_label.split(".")
    list_url = reverse(f"admin:{opts_label[0].lower()}_{opts_label[1].lower()}_changelist")
    context = {
        **site.each_context(request),
        "title": f"导出 #{job.pk}：{job.list_title}",
        "job": job,
        "percent": int(job.done * 100 / job.total) if job.total else (100 if job.status == "done" else 0),
        "list_url": f"{list_url}?{job.query}" if job.query else list_url,
    }
    return TemplateResponse(request, "admin/erp/export_job.html", context)


def export_download_view(site, request, pk):
    job = own_job(request, pk)
    if job.status != ExportStatus.DONE or not job.file_name:
        raise Http404("导出尚未完成")
    path = export_dir() / job.file_name
    if not path.exists():
        raise Http404("导出文件已不存在，请重新导出")
    stamp = timezone.localtime(job.finished_at).strftime("%Y%m%d-%H%M%S")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{job.list_title}-{stamp}.xlsx")
