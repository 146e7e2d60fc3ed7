"""工作台: what needs a person now, per shop, and how many slips were written back each day.

The admin theme opens it as its home tab (SIMPLEUI_HOME_PAGE). Each figure links to the list that
shows exactly those rows; a figure is shown only to roles that may open that list. The chart is an
inline SVG drawn here: no chart library, no CDN.
"""

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from orders.models import InterceptionStatus, OrderLine, Shop
from refunds.models import RawRefund, WritebackStatus
from returns.selectors import overdue_return_slips
from sa_sync.models import WritebackAttempt, WritebackOutcome

CHART_DAYS = 30
# The failure causes CS work one at a time (the slip list's 回传失败原因 filter): key, label, words.
FAILURE_REASONS = [
    ("shipped", "订单已发货", "订单已发货"),
    ("intercepting", "拦截中", "拦截中"),
    ("intercept_failed", "拦截失败", "拦截失败"),
    ("in_warehouse", "已进入仓库处理", "订单已进入仓库处理"),
    ("not_arrived", "退货未入库", "退货尚未入库"),
    ("jd", "京东返回错误", "京东"),
    ("interrupted", "回传中断", "回传中断"),
]


def _by_shop(queryset):
    return dict(queryset.values_list("shop").annotate(n=Count("pk")).values_list("shop", "n"))


def shop_rows(user):
    see_slips = user.has_perm("refunds.view_rawrefund")
    see_lines = user.has_perm("orders.view_pendinginterception")
    see_returns = user.has_perm("returns.view_returnslip")
    slips = RawRefund.objects.all()
    sendable = (
        _by_shop(slips.sendable().filter(writeback_status=WritebackStatus.NOT_SENT)) if see_slips else {}
    )
    failed = _by_shop(slips.filter(writeback_status=WritebackStatus.FAILED)) if see_slips else {}
    unknown = _by_shop(slips.filter(writeback_status=WritebackStatus.UNKNOWN)) if see_slips else {}
    failed_by_reason = {}
    if see_slips:
        for key, label, words in FAILURE_REASONS:
            counts = _by_shop(
                slips.filter(writeback_status=WritebackStatus.FAILED, writeback_message__contains=words)
            )
            for shop_id, n in counts.items():
                failed_by_reason.setdefault(shop_id, []).append((key, label, n))
    pending = (
        _by_shop(OrderLine.objects.filter(interception_status=InterceptionStatus.PENDING))
        if see_lines
        else {}
    )
    overdue = _by_shop(overdue_return_slips()) if see_returns else {}
    slip_list = reverse("admin:refunds_rawrefund_changelist")
    rows = []
    for shop in Shop.objects.order_by("pk"):
        shop_q = f"shop__id__exact={shop.pk}"
        rows.append(
            {
                "shop": shop,
                "sendable": sendable.get(shop.pk, 0),
                "sendable_url": f"{slip_list}?view=sendable&{shop_q}",
                "failed": failed.get(shop.pk, 0),
                "failed_url": f"{slip_list}?view=failed&{shop_q}",
                "unknown": unknown.get(shop.pk, 0),
                "unknown_url": f"{slip_list}?view=unknown&{shop_q}",
                "failed_reasons": [
                    (label, n, f"{slip_list}?wb_reason={key}&{shop_q}")
                    for key, label, n in failed_by_reason.get(shop.pk, [])
                ],
                "pending": pending.get(shop.pk, 0),
                "pending_url": f"{reverse('admin:orders_pendinginterception_changelist')}?{shop_q}"
                if see_lines
                else "",
                "overdue": overdue.get(shop.pk, 0),
                "overdue_url": f"{reverse('admin:returns_returnslip_changelist')}?overdue=yes&{shop_q}"
                if see_returns
                else "",
            }
        )
    return rows, {"slips": see_slips, "lines": see_lines, "returns": see_returns}


def writebacks_per_day(days=CHART_DAYS, today=None):
    """[(day, succeeded, failed)] for the last `days` days (local dates), zeros included."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    tz = timezone.get_current_timezone()
    since = timezone.make_aware(timezone.datetime.combine(start, timezone.datetime.min.time()), tz)
    counts = (
        WritebackAttempt.objects.filter(
            created_at__gte=since, outcome__in=[WritebackOutcome.SUCCEEDED, WritebackOutcome.FAILED]
        )
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values_list("day", "outcome")
        .annotate(n=Count("pk"))
    )
    by_day = {}
    for day, outcome, n in counts:
        by_day.setdefault(day, {})[outcome] = n
    return [
        (
            start + timedelta(days=i),
            by_day.get(start + timedelta(days=i), {}).get(WritebackOutcome.SUCCEEDED, 0),
            by_day.get(start + timedelta(days=i), {}).get(WritebackOutcome.FAILED, 0),
        )
        for i in range(days)
    ]


def chart_bars(series, width=900, height=180):
    """Stacked bars (success green, failure red) as SVG geometry for the template."""
    top = max([s + f for _, s, f in series] + [1])
    slot = width / len(series)
    bars = []
    for i, (day, succeeded, failed) in enumerate(series):
        h_ok = round(succeeded / top * (height - 20), 1)
        h_bad = round(failed / top * (height - 20), 1)
        x = round(i * slot + 2, 1)
        bars.append(
            {
                "day": day,
                "succeeded": succeeded,
                "failed": failed,
                "x": x,
                "w": round(slot - 4, 1),
                "ok_y": round(height - h_ok, 1),
                "ok_h": h_ok,
                "bad_y": round(height - h_ok - h_bad, 1),
                "bad_h": h_bad,
                "label": day.strftime("%m-%d") if i % 5 == 0 or i == len(series) - 1 else "",
                "label_x": round(x + (slot - 4) / 2, 1),
            }
        )
    return {"bars": bars, "width": width, "height": height, "top": top}


def credential_alerts(rows):
    """The shops JD refused (授权异常), with the cause and what to do, above the figures: until they
    are authorised again nothing of theirs is downloaded or written back automatically."""
    return [
        {
            "shop": row["shop"],
            "url": reverse("admin:orders_shop_change", args=[row["shop"].pk]),
        }
        for row in rows
        if row["shop"].credential_error
    ]


def dashboard_view(site, request):
    rows, can = shop_rows(request.user)
    series = writebacks_per_day() if can["slips"] else []
    context = {
        **site.each_context(request),
        "title": "工作台",
        "rows": rows,
        "alerts": credential_alerts(rows),
        "can": can,
        "chart": chart_bars(series) if series else None,
        "total_succeeded": sum(s for _, s, _ in series),
        "total_failed": sum(f for _, _, f in series),
        "chart_days": CHART_DAYS,
    }
    return TemplateResponse(request, "admin/erp/dashboard.html", context)
