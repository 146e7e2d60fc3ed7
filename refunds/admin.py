from django.contrib import admin
from django.utils.html import format_html

from erp_aftersales.admin_utils import PlatformDataAdmin, badge
from orders.admin import exact_search, lines_table

from .models import PlatformStatus, RawRefund, WritebackStatus
from .reasons import COMMON_REASONS

WRITEBACK_COLOURS = {
    WritebackStatus.NOT_SENT: "grey",
    WritebackStatus.SENDING: "blue",
    WritebackStatus.SUCCEEDED: "green",
    WritebackStatus.FAILED: "red",
}
PLATFORM_STATUS_COLOURS = {
    PlatformStatus.CANCELLED: "grey",
    PlatformStatus.APPLIED: "orange",
    PlatformStatus.AWAITING_RETURN: "blue",
    PlatformStatus.AWAITING_RECEIPT: "purple",
    PlatformStatus.REFUNDED: "green",
    PlatformStatus.SELLER_REFUSED: "red",
}


class ReasonFilter(admin.SimpleListFilter):
    """Reasons from JD's fixed list: a DISTINCT over a million slips on every page load would be slow."""

    title = "退款原因"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return [(r, r) for r in COMMON_REASONS]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(reason=self.value())
        return queryset


@admin.register(RawRefund)
class RawRefundAdmin(PlatformDataAdmin):
    list_display = [
        "refund_no",
        "shop",
        "tid",
        "oid",
        "refund_type",
        "platform_status_badge",
        "writeback_status_badge",
        "reason",
        "refund_amount",
        "num",
        "buyer_nick",
        "apply_time",
        "writeback_message",
    ]
    list_filter = [
        "shop",
        "refund_type",
        "platform_status",
        "writeback_status",
        ReasonFilter,
        ("apply_time", admin.DateFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["shop"]
    search_fields = ["refund_no"]
    search_help_text = "按平台退款单号、平台订单号、原始子单号或买家账号精确查找"
    readonly_fields = ["order_link", "order_lines", "event_log"]
    fieldsets = [
        (
            "平台信息（来自京东，只读）",
            {
                "fields": [
                    "shop",
                    "refund_no",
                    "tid",
                    "oid",
                    "refund_type",
                    "platform_status",
                    "platform_status_code",
                    "reason",
                    "description",
                    "refund_amount",
                    "num",
                    "buyer_nick",
                    "apply_time",
                    "check_time",
                    "platform_modified",
                ]
            },
        ),
        (
            "退款回传",
            {
                "fields": [
                    "writeback_status",
                    "writeback_message",
                    "writeback_attempts",
                    "last_writeback_at",
                    "next_attempt_at",
                    "writeback_claimed_at",
                ]
            },
        ),
        ("系统订单", {"fields": ["order_link", "order_lines"]}),
        ("操作日志", {"fields": ["event_log"]}),
        ("记录", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        return exact_search(queryset, search_term, ["refund_no", "tid", "oid", "buyer_nick"])

    @admin.display(description="平台状态", ordering="platform_status")
    def platform_status_badge(self, obj):
        return badge(obj.get_platform_status_display(), PLATFORM_STATUS_COLOURS[obj.platform_status])

    @admin.display(description="退款回传状态", ordering="writeback_status")
    def writeback_status_badge(self, obj):
        return badge(obj.get_writeback_status_display(), WRITEBACK_COLOURS[obj.writeback_status])

    @admin.display(description="系统订单")
    def order_link(self, obj):
        if obj.order is None:
            return "未匹配到系统订单（订单尚未下载）"
        order = obj.order
        return format_html(
            '<a href="{}">{}</a>　{}　{}',
            order.get_absolute_url(),
            order.tid,
            order.get_status_display(),
            order.get_pay_type_display(),
        )

    @admin.display(description="子订单")
    def order_lines(self, obj):
        if obj.order is None:
            return "-"
        return lines_table(obj.order.lines.all(), highlight_id=obj.order_line_id)
