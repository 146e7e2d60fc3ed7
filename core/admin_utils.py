"""Small pieces every admin page of the back office shares: badges, the event log, read-only pages."""

from django.contrib import admin
from django.db.models import Q
from django.template.loader import render_to_string
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

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": self.model._meta.verbose_name_plural, **(extra_context or {})}
        return super().changelist_view(request, extra_context)


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


def exact_search(queryset, term, fields):
    """Exact, index-backed matches: CS paste a number; a LIKE over a million rows would scan them all."""
    term = term.strip()
    if not term:
        return queryset, False
    query = Q()
    for field in fields:
        query |= Q(**{field: term})
    return queryset.filter(query), False
