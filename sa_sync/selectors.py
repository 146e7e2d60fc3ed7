from django.db.models import OuterRef, Subquery

from .models import SyncRun


def latest_run_fields(queryset, kind=None):
    """Annotate shops with their latest sync run (time, status, rows, error) in the same query."""
    runs = SyncRun.objects.filter(shop=OuterRef("pk"))
    if kind:
        runs = runs.filter(kind=kind)
    runs = runs.order_by("-id")
    return queryset.annotate(
        last_sync_at=Subquery(runs.values("started_at")[:1]),
        last_sync_status=Subquery(runs.values("status")[:1]),
        last_sync_rows=Subquery(runs.values("rows_new")[:1]),
        last_sync_error=Subquery(runs.values("error")[:1]),
    )
