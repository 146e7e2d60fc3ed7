from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin_utils import DateRangeFilter, PlatformDataAdmin, badge, prefix_search, readable_lines
from orders.admin import ORDER_STATUS_COLOURS, lines_table
from refund_slips.services import refund_slips_create_for_raw_refunds
from returns.admin import returns_block
from returns.services import ReturnRefused, return_slip_create
from sa_sync.models import WritebackOutcome, WritebackTrigger
from sa_sync.writeback import refund_writeback, writeback_job_start

from .models import AutoDecision, PlatformStatus, RawRefund, WritebackStatus
from .reasons import COMMON_REASONS

WRITEBACK_COLOURS = {
    WritebackStatus.NOT_SENT: "grey",
    WritebackStatus.SENDING: "blue",
    WritebackStatus.SUCCEEDED: "green",
    WritebackStatus.FAILED: "red",
    WritebackStatus.UNKNOWN: "orange",
}
PLATFORM_STATUS_COLOURS = {
    PlatformStatus.CANCELLED: "grey",
    PlatformStatus.APPLIED: "orange",
    PlatformStatus.AWAITING_RETURN: "blue",
    PlatformStatus.AWAITING_RECEIPT: "purple",
    PlatformStatus.REFUNDED: "green",
    PlatformStatus.SELLER_REFUSED: "red",
    PlatformStatus.SERVICE_COMPLETED: "cyan",
}
AUTO_DECISION_COLOURS = {
    AutoDecision.SUCCEEDED: "green",
    AutoDecision.FAILED: "red",
    AutoDecision.NOT_SENT: "grey",
}
WRITEBACK_ACTION = "refund_writeback"
MAX_FAILURES_LISTED = 50


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


class WritebackReasonFilter(admin.SimpleListFilter):
    """Why slips were not written back, by the words their message starts with or contains: refused
    (not sent) and failed (JD said no) alike, so CS can work one cause at a time."""

    title = "回传失败原因"
    parameter_name = "wb_reason"
    REASONS = {
        "shipped": ("订单已发货", "订单已发货"),
        "intercepting": ("拦截中，待仓库确认", "拦截中"),
        "intercept_failed": ("拦截失败", "拦截失败"),
        "in_warehouse": ("订单已进入仓库处理", "订单已进入仓库处理"),
        "not_arrived": ("退货尚未入库", "退货尚未入库"),
        "partly_arrived": ("退货未全部到货", "退货未全部到货"),
        "no_order": ("未找到系统订单", "未找到对应的系统订单"),
        "not_needed": ("无需回传（类型/状态）", "该退款单无需回传"),
        "shop_disabled": ("店铺未启用SA回传", "店铺未启用SA回传"),
        "jd": ("京东返回错误", "京东"),
        "interrupted": ("回传中断", "回传中断"),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.REASONS.items()]

    def queryset(self, request, queryset):
        if self.value() in self.REASONS:
            words = self.REASONS[self.value()][1]
            return queryset.filter(writeback_status=WritebackStatus.FAILED, writeback_message__contains=words)
        return queryset


class SavedViewFilter(admin.SimpleListFilter):
    """The views CS open all day, one click each (also linked above the list as 常用筛选)."""

    title = "常用筛选"
    parameter_name = "view"
    VIEWS = {
        "sendable": "可回传未回传",
        "failed": "回传失败",
        "unknown": "结果未知",
        "attention": "需关注",
    }

    def lookups(self, request, model_admin):
        return list(self.VIEWS.items())

    def queryset(self, request, queryset):
        if self.value() == "sendable":
            return queryset.sendable().filter(writeback_status=WritebackStatus.NOT_SENT)
        if self.value() == "failed":
            return queryset.filter(writeback_status=WritebackStatus.FAILED)
        if self.value() == "unknown":
            return queryset.filter(writeback_status=WritebackStatus.UNKNOWN)
        if self.value() == "attention":
            return queryset.exclude(attention="")
        return queryset


class AttentionFilter(admin.SimpleListFilter):
    title = "需关注"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", "需关注（拦截失败或关键词预警）"), ("keyword", "关键词预警（描述与类型不符）")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(attention="", keyword_warning="")
        if self.value() == "keyword":
            return queryset.exclude(keyword_warning="")
        return queryset


@admin.register(RawRefund)
class RawRefundAdmin(PlatformDataAdmin):
    change_list_template = "admin/refunds/rawrefund/change_list.html"
    # Fits 1366-1920 px: the numbers, the three states side by side (platform, our order, writeback),
    # and one wrapping 回传结果 column that carries the message, the rule's decision and 需关注.
    # The sub-order, quantity and buyer are on the slip's page.
    list_display = [
        "refund_no",
        "shop_name",
        "tid",
        "refund_type",
        "platform_status_badge",
        "order_status_badge",
        "writeback_status_badge",
        "reason",
        "refund_amount",
        "apply_time_short",
        "writeback_result",
    ]
    export_enabled = True
    export_fields = [
        "refund_no",
        "shop_name",
        "tid",
        "oid",
        "refund_type",
        "platform_status",
        "order_status_text",
        "writeback_status",
        "writeback_message",
        "auto_decision",
        "auto_decision_reason",
        "attention",
        "reason",
        "refund_amount",
        "num",
        "buyer_nick",
        "apply_time",
        "last_writeback_at",
    ]
    list_filter = [
        SavedViewFilter,
        "shop",
        "refund_type",
        "platform_status",
        "writeback_status",
        WritebackReasonFilter,
        "auto_decision",
        ReasonFilter,
        AttentionFilter,
        ("apply_time", DateRangeFilter),
        ("created_at", DateRangeFilter),
    ]
    list_select_related = ["shop", "order"]
    search_fields = ["refund_no"]
    search_help_text = "平台退款单号、平台订单号、原始子单号输入开头几位即可（前缀匹配）；买家账号需完整输入"
    actions = [WRITEBACK_ACTION, "create_return_slip", "create_refund_slip"]
    change_form_template = "admin/refunds/rawrefund/change_form.html"
    readonly_fields = [
        "attention_text",
        "order_link",
        "order_slips",
        "order_lines",
        "return_slips",
        "auto_decision_run",
        "attempt_log",
        "event_log",
    ]
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
                    "attention_text",
                    "keyword_warning",
                    "inbound_num",
                    "writeback_attempts",
                    "last_writeback_at",
                    "next_attempt_at",
                    "writeback_claimed_at",
                ]
            },
        ),
        (
            "自动回传（最近一次运行对该单的判断）",
            {"fields": ["auto_decision", "auto_decision_reason", "auto_decision_at", "auto_decision_run"]},
        ),
        ("系统订单", {"fields": ["order_link", "order_slips", "order_lines"]}),
        ("退货单与入库", {"fields": ["return_logistics_company", "return_logistics_no", "return_slips"]}),
        ("回传记录", {"fields": ["attempt_log"]}),
        ("操作日志", {"fields": ["event_log"]}),
        ("记录", {"fields": ["created_at", "updated_at"]}),
    ]

    # Bookkeeping CS never act on: JD's raw status code and the claim time of a writeback in flight.
    INTERNAL_FIELDS = {"platform_status_code", "writeback_claimed_at"}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (title, {**opts, "fields": [f for f in opts["fields"] if f not in self.INTERNAL_FIELDS]})
            for title, opts in fieldsets
        ]

    def get_urls(self):
        urls = [
            path(
                "<int:pk>/writeback/",
                self.admin_site.admin_view(self.writeback_one_view),
                name="refunds_rawrefund_writeback_one",
            )
        ]
        return urls + super().get_urls()

    def writeback_one_view(self, request, pk):
        """The 退款回传 button on the slip's own page: the same service as the list's action."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        slip = get_object_or_404(RawRefund, pk=pk)
        if not self.has_writeback_permission(request):
            raise PermissionDenied
        results = refund_writeback([slip.pk], by=request.user, trigger=WritebackTrigger.MANUAL)
        report_results(self, request, results)
        return HttpResponseRedirect(reverse("admin:refunds_rawrefund_change", args=[slip.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_writeback": self.has_writeback_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- the writeback action (right-click menu and the action dropdown post the same form) ----------
    def has_writeback_permission(self, request):
        return request.user.has_perm("refunds.writeback_rawrefund")

    @admin.action(description="退款回传", permissions=["writeback"])
    def refund_writeback(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        if len(ids) > settings.WRITEBACK_BACKGROUND_OVER:
            job = writeback_job_start(ids, by=request.user)
            self.message_user(
                request, f"已选择 {len(ids)} 条，转为后台批量回传，可在进度页查看结果。", messages.INFO
            )
            return HttpResponseRedirect(reverse("admin:sa_sync_writeback_job", args=[job.pk]))
        results = refund_writeback(ids, by=request.user, trigger=WritebackTrigger.MANUAL)
        report_results(self, request, results)
        return None

    def has_create_return_permission(self, request):
        return request.user.has_perm("returns.add_returnslip")

    @admin.action(description="建退货单", permissions=["create_return"])
    def create_return_slip(self, request, queryset):
        """One return slip per selected 退货 slip, for what is left of its quantity."""
        for slip in queryset.order_by("pk"):
            try:
                created = return_slip_create(raw_refund=slip, by=request.user)
            except ReturnRefused as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    format_html(
                        '{}：已创建退货单 <a href="{}">{}</a>（待审核）',
                        slip.refund_no,
                        reverse("admin:returns_returnslip_change", args=[created.pk]),
                        created.number,
                    ),
                    messages.SUCCESS,
                )

    def has_create_refund_permission(self, request):
        return request.user.has_perm("refund_slips.add_refundslip")

    @admin.action(description="建退款单", permissions=["create_refund"])
    def create_refund_slip(self, request, queryset):
        """One refund slip per selected slip, its amount under the shop's strategy (one batch)."""
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        result = refund_slips_create_for_raw_refunds(ids, by=request.user)
        if len(result.created) == 1:
            created = result.created[0]
            self.message_user(
                request,
                format_html(
                    '已创建退款单 <a href="{}">{}</a>（待审核，应退 {} 元）',
                    reverse("admin:refund_slips_refundslip_change", args=[created.pk]),
                    created.number,
                    created.amount,
                ),
                messages.SUCCESS,
            )
        elif result.created:
            self.message_user(request, f"已创建 {len(result.created)} 张退款单（待审核）", messages.SUCCESS)
        for refund_no, why in list(result.refused.items())[:50]:
            self.message_user(request, f"{refund_no}：{why}", messages.ERROR)

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and request.POST.get("action") == WRITEBACK_ACTION:
            if not self.has_writeback_permission(request):
                # Django would silently ignore an action the user may not run: say why instead.
                self.message_user(request, "您没有“退款回传”权限，操作未执行。", messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
        extra_context = {**(extra_context or {}), "can_writeback": self.has_writeback_permission(request)}
        return super().changelist_view(request, extra_context)

    # --- columns and read-only blocks ---------------------------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        return prefix_search(queryset, search_term, ["refund_no", "tid", "oid"], exact_fields=["buyer_nick"])

    @admin.display(description="平台状态", ordering="platform_status")
    def platform_status_badge(self, obj):
        return badge(obj.get_platform_status_display(), PLATFORM_STATUS_COLOURS[obj.platform_status])

    @admin.display(description="退款回传状态", ordering="writeback_status")
    def writeback_status_badge(self, obj):
        return badge(obj.get_writeback_status_display(), WRITEBACK_COLOURS[obj.writeback_status])

    @admin.display(description="申请时间", ordering="apply_time")
    def apply_time_short(self, obj):
        # 11-29 22:20, not 2026年11月29日 22:20: the year is this year's for the slips CS work on.
        if obj.apply_time is None:
            return "-"
        moment = timezone.localtime(obj.apply_time)
        return f"{moment:%m-%d %H:%M}" if moment.year == timezone.localdate().year else f"{moment:%Y-%m-%d}"

    @admin.display(description="店铺", ordering="shop__name")
    def shop_name(self, obj):
        return obj.shop.name

    @admin.display(description="系统订单状态", ordering="order__status")
    def order_status_badge(self, obj):
        if obj.order is None:
            return badge("未匹配", "grey")
        return badge(obj.order.get_status_display(), ORDER_STATUS_COLOURS[obj.order.status])

    @admin.display(description="系统订单状态")
    def order_status_text(self, obj):
        return obj.order.get_status_display() if obj.order else "未匹配"

    @admin.display(description="回传结果")
    def writeback_result(self, obj):
        parts = []
        if obj.writeback_message:
            parts.append(format_html("<div>{}</div>", obj.writeback_message[:80]))
        if obj.auto_decision:
            parts.append(self.auto_decision_text(obj))
        if obj.attention:
            parts.append(format_html('<div style="color:#cf1322">需关注：{}</div>', obj.attention))
        if not parts:
            return "-"
        return format_html(
            '<div class="erp-wrap">{}</div>', format_html_join("", "{}", ((p,) for p in parts))
        )

    @admin.display(description="自动回传", ordering="auto_decision")
    def auto_decision_text(self, obj):
        if not obj.auto_decision:
            return ""
        colour = AUTO_DECISION_COLOURS[obj.auto_decision]
        return format_html(
            '{}<br><span style="color:#888">{}</span>',
            badge(obj.get_auto_decision_display(), colour),
            obj.auto_decision_reason[:60],
        )

    @admin.display(description="自动回传运行")
    def auto_decision_run(self, obj):
        if obj.auto_decision_run_id is None:
            return "尚无自动回传运行判断过该单"
        url = reverse("admin:sa_sync_autowritebackrun_change", args=[obj.auto_decision_run_id])
        return format_html('<a href="{}">#{}</a>', url, obj.auto_decision_run_id)

    @admin.display(description="需关注")
    def attention_text(self, obj):
        text = "；".join(t for t in (obj.attention, obj.keyword_warning) if t)
        return format_html('<span style="color:#cf1322">{}</span>', text) if text else ""

    @admin.display(description="该订单的全部退款单")
    def order_slips(self, obj):
        if obj.order_id is None:
            return "-"
        return order_slips_table(obj.order.raw_refunds.order_by("-id")[:50], current=obj.pk)

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

    @admin.display(description="退货单与入库")
    def return_slips(self, obj):
        return returns_block(obj) if obj.pk else "-"

    @admin.display(description="回传记录")
    def attempt_log(self, obj):
        attempts = list(obj.attempts.select_related("actor")[:100]) if obj.pk else []
        for attempt in attempts:
            attempt.request_lines = readable_lines(attempt.request_summary)
            attempt.response_lines = readable_lines(attempt.response)
        return render_to_string("admin/sa_sync/attempt_log.html", {"attempts": attempts})


def order_slips_table(slips, current=None):
    """An order's raw refund slips (原始退款单) as a small table: number, type, states, amount."""
    slips = list(slips)
    if not slips:
        return "暂无退款单"
    rows = format_html_join(
        "",
        '<tr{}><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                mark_safe(' style="background:#ecf5ff"') if s.pk == current else "",
                reverse("admin:refunds_rawrefund_change", args=[s.pk]),
                s.refund_no,
                s.get_refund_type_display(),
                badge(s.get_platform_status_display(), PLATFORM_STATUS_COLOURS[s.platform_status]),
                badge(s.get_writeback_status_display(), WRITEBACK_COLOURS[s.writeback_status]),
                s.refund_amount,
                s.writeback_message or "-",
            )
            for s in slips
        ),
    )
    return format_html(
        '<table class="erp-table erp-order-slips"><thead><tr><th>平台退款单号</th><th>退款类型</th>'
        "<th>平台状态</th><th>退款回传状态</th><th>退款金额</th><th>回传结果</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows,
    )


def report_results(model_admin, request, results):
    """One line for the successes, one per slip that was not written back, in plain Chinese."""
    succeeded = [r for r in results if r.succeeded]
    others = [r for r in results if not r.succeeded]
    if succeeded:
        model_admin.message_user(request, f"操作成功：{len(succeeded)} 条已回传成功。", messages.SUCCESS)
    for result in others[:MAX_FAILURES_LISTED]:
        level = messages.WARNING if result.outcome == WritebackOutcome.SKIPPED else messages.ERROR
        model_admin.message_user(request, f"{result.refund_no}：{result.message}", level)
    if len(others) > MAX_FAILURES_LISTED:
        model_admin.message_user(
            request,
            f"另有 {len(others) - MAX_FAILURES_LISTED} 条未成功，请按“退款回传状态”筛选查看。",
            messages.ERROR,
        )
    if not results:
        model_admin.message_user(request, "没有选中的退款单。", messages.WARNING)
