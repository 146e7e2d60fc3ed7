"""The reads of the returns app."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .models import DEFAULT_INBOUND_TIME_LIMIT_DAYS, ReturnSlip, ReturnStatus, ShopReturnSettings


def overdue_condition(now=None) -> Q:
    """待入库 longer than the shop's time limit (default 14 days). Shops with their own limit are few:
    one OR branch each keeps the query on (status, approved_at) instead of date arithmetic in SQL."""
    now = now or timezone.now()
    custom = dict(
        ShopReturnSettings.objects.exclude(
            inbound_time_limit_days=DEFAULT_INBOUND_TIME_LIMIT_DAYS
        ).values_list("shop_id", "inbound_time_limit_days")
    )
    condition = Q(approved_at__lt=now - timedelta(days=DEFAULT_INBOUND_TIME_LIMIT_DAYS)) & ~Q(
        shop_id__in=list(custom)
    )
    for shop_id, days in custom.items():
        condition |= Q(shop_id=shop_id, approved_at__lt=now - timedelta(days=days))
    return Q(status=ReturnStatus.AWAITING_INBOUND) & condition


def overdue_return_slips(now=None):
    """Return slips CS must follow up (超时未入库): flagged, never closed by us (JD's deadlines decide)."""
    return ReturnSlip.objects.filter(overdue_condition(now))


def return_slips_for_scan(term: str):
    """What the warehouse's scan finds: a buyer's waybill number, else the platform order number."""
    term = term.strip()
    if not term:
        return ReturnSlip.objects.none()
    slips = ReturnSlip.objects.filter(Q(logistics_no=term) | Q(order__tid=term))
    return slips.select_related("order", "shop").prefetch_related("lines__order_line").order_by("-id")


def raw_refund_return_summary(raw_refund):
    """The raw refund slip's page: its line's return slips, each with its inbound, and the total."""
    if raw_refund.order_line_id is None:
        return []
    return list(
        ReturnSlip.objects.filter(Q(raw_refund=raw_refund) | Q(lines__order_line_id=raw_refund.order_line_id))
        .distinct()
        .select_related("inbound")
        .prefetch_related("lines__order_line", "inbound__lines__return_line")
        .order_by("id")
    )
