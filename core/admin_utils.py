"""Small pieces every admin page of the back office shares: badges, the event log, read-only pages."""

from datetime import datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html

from .audit import events_for
from .pagination import CappedCountPaginator

BADGE_COLOURS = {
    "grey": "#8c8c8c",
    "blue": "#1677ff",
    "green": "#389e0d",
    "red": "#cf1322",
    "orange": "#d46b08",
    "purple": "#722ed1",
    "cyan": "#08979c",
}


def badge(label, colour: str):
    return format_html(
        '<span class="erp-badge" style="background:{};color:#fff;border-radius:10px;padding:1px 8px;'
        'white-space:nowrap;font-size:12px">{}</span>',
        BADGE_COLOURS.get(colour, colour),
        label,
    )


class ErpModelAdmin(admin.ModelAdmin):
    """The base of every ModelAdmin in the back office (docs/admin.md): the theme's pages, titles
    that name the list ("原始退款单", not Django's "选择 原始退款单 来查看"), dense lists."""

    list_per_page = 50
    # 导出Excel on the list (the current filter, all pages); columns from `export_fields`, else the
    # list's own. Past EXPORT_BACKGROUND_OVER rows it runs in the background with a progress page.
    export_enabled = False
    export_fields: list[str] | None = None

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": self.model._meta.verbose_name_plural, **(extra_context or {})}
        if self.export_enabled and self.has_view_permission(request):
            opts = self.model._meta
            extra_context["erp_export_url"] = reverse(
                "admin:erp_export", args=[opts.app_label, opts.model_name]
            )
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # "原始退款单 6200000123401", not Django's "修改 原始退款单": the page is about that slip.
        obj = self.get_object(request, object_id) if object_id else None
        if obj is not None and "title" not in (extra_context or {}):
            extra_context = {**(extra_context or {}), "title": f"{self.model._meta.verbose_name} {obj}"}
        return super().change_view(request, object_id, form_url, extra_context)


class DateRangeFilter(admin.DateFieldListFilter):
    """Django's date filter (今天 / 过去7天 / 本月 …) plus any range: the theme's date-range picker
    sends `field__gte` and `field__lte`. An end at midnight means that whole day (a person who picks
    1日–5日 means through the 5th), so it becomes `< the next day`."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_kwarg_lte = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)

    def expected_parameters(self):
        return [*super().expected_parameters(), self.lookup_kwarg_lte]

    def queryset(self, request, queryset):
        params = {k: (v[-1] if isinstance(v, list) else v) for k, v in self.used_parameters.items()}
        lte = params.pop(self.lookup_kwarg_lte, None)
        try:
            for key in (self.lookup_kwarg_since, self.lookup_kwarg_until):
                if params.get(key):
                    moment = self._moment(params[key])
                    if moment is None:
                        raise ValueError(params[key])
                    is_datetime = isinstance(self.field, models.DateTimeField)
                    params[key] = moment if is_datetime else moment.date()
            if lte:
                end = self._moment(lte)
                if end is None:
                    raise ValueError(lte)
                if not isinstance(self.field, models.DateTimeField):
                    params[self.lookup_kwarg_lte] = end.date()
                elif (end.hour, end.minute, end.second) == (0, 0, 0):
                    params[self.lookup_kwarg_until] = end + timedelta(days=1)
                else:
                    params[self.lookup_kwarg_lte] = end
            return queryset.filter(**{k: v for k, v in params.items() if v not in ("", None)})
        except (ValueError, ValidationError) as exc:
            raise IncorrectLookupParameters(f"{self.title}：日期格式不正确（{exc}）") from exc

    def _moment(self, value):
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = datetime.combine(day, time()) if day else None
        if moment is not None and timezone.is_naive(moment) and isinstance(self.field, models.DateTimeField):
            moment = timezone.make_aware(moment)
        return moment


class EventLogMixin:
    """Adds a read-only 操作日志 block to the change page (newest first, latest 200)."""

    @admin.display(description="操作日志")
    def event_log(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        events = list(events_for(obj)[:200])
        return render_to_string("admin/erp/event_log.html", {"events": events})


class BigListMixin:
    """Changelists that stay fast at a million rows: no second unfiltered COUNT, a capped count."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class ReadOnlyMixin:
    """Records the system writes (runs, jobs, the event log): people read them, nobody edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PlatformDataAdmin(BigListMixin, EventLogMixin, ErpModelAdmin):
    """Rows that come from the platform: nobody adds, edits or deletes them by hand here."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        model_fields = [f.name for f in self.model._meta.fields]
        return list(dict.fromkeys([*model_fields, *self.readonly_fields]))


FIELD_LABELS = {
    "method": "接口",
    "checked": "发送前核对",
    "refId": "退款单号",
    "serviceId": "服务单号",
    "orderId": "订单号",
    "warehouseStatus": "仓库状态",
    "operatePin": "操作人账号",
    "operateNick": "操作人",
    "operateRemark": "备注",
    "success": "成功",
    "msg": "消息",
    "message": "消息",
    "code": "返回码",
    "zh_desc": "说明",
    "en_desc": "说明（英文）",
    "status": "状态",
    "errorCode": "错误码",
    "errorMessage": "错误信息",
    "text": "原文",
    "truncated": "原文（已截断）",
}


def readable_lines(data, prefix="") -> list[tuple[str, str]]:
    """A JSON request or answer as (label, value) lines a person reads: nested keys flattened, known
    JOS keys in Chinese, booleans as 是/否. Never a Python dict on a page."""
    lines = []
    if isinstance(data, dict):
        for key, value in data.items():
            label = FIELD_LABELS.get(key, key)
            lines += readable_lines(value, f"{prefix}{label}" if not isinstance(value, dict) else prefix)
        return lines
    if isinstance(data, list):
        for i, value in enumerate(data, 1):
            lines += readable_lines(value, f"{prefix}[{i}]")
        return lines
    if isinstance(data, bool):
        data = "是" if data else "否"
    return [(prefix or "值", "" if data is None else str(data))]


def prefix_search(queryset, term, prefix_fields, exact_fields=()):
    """Numbers found by their beginning (part of an order number finds it), still index-backed.

    PostgreSQL: `LIKE 'x%'`, served by the fields' varchar_pattern_ops indexes (which serve `=` too).
    SQLite: its LIKE ignores case and so skips plain indexes; a range `x <= field < x + U+10FFFF` is
    the same prefix under SQLite's binary collation, and walks the ordinary index.
    """
    term = term.strip()
    if not term:
        return queryset, False
    sqlite = connections[queryset.db].vendor == "sqlite"
    query = Q()
    for field in prefix_fields:
        if sqlite:
            query |= Q(**{f"{field}__gte": term, f"{field}__lt": term + "\U0010ffff"})
        else:
            query |= Q(**{f"{field}__startswith": term})
    for field in exact_fields:
        query |= Q(**{field: term})
    return queryset.filter(query), False


def exact_search(queryset, term, fields):
    """Exact, index-backed matches: CS paste a number; a LIKE over a million rows would scan them all."""
    term = term.strip()
    if not term:
        return queryset, False
    query = Q()
    for field in fields:
        query |= Q(**{field: term})
    return queryset.filter(query), False
