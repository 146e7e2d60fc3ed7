"""Refund slips for CS and finance: the list (需关注 / 金额差异 / 待二级审核 filters), the slip's page
(quote with its arithmetic, adjustments, who approved what, the buttons allowed now), 建退款单 by hand
with a quote first, from a return slip, and the shop's refund settings (rules page). Thin: every
button calls one service; refusals come back in the service's own words."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin_utils import BigListMixin, DateRangeFilter, ErpModelAdmin, EventLogMixin, badge, prefix_search
from orders.models import Order
from returns.models import ReturnSlip

from .models import AdjustmentKind, RefundSlip, RefundSlipStatus, ShopRefundSettings
from .services import (
    ADJUST_PERM,
    RefundSlipRefused,
    allowed_actions,
    raw_refunds_keyword_check,
    refund_quote,
    refund_slip_add_freight,
    refund_slip_adjust,
    refund_slip_approve,
    refund_slip_cancel,
    refund_slip_create,
    refund_slip_mark_refunded,
    refund_slip_reject,
)

STATUS_COLOURS = {
    RefundSlipStatus.PENDING_REVIEW: "orange",
    RefundSlipStatus.AWAITING_REFUND: "blue",
    RefundSlipStatus.REFUNDED: "green",
    RefundSlipStatus.REJECTED: "grey",
    RefundSlipStatus.CANCELLED: "grey",
}
CREATE_PERM = "refund_slips.add_refundslip"


class AttentionFilter(admin.SimpleListFilter):
    title = "需关注"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("keyword", "关键词预警（描述与类型不符）"),
            ("difference", "金额差异（待财务核对）"),
            ("level2", "待二级审核"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "keyword":
            return queryset.exclude(attention="")
        if self.value() == "difference":
            return queryset.exclude(amount_difference="")
        if self.value() == "level2":
            return queryset.filter(
                status=RefundSlipStatus.PENDING_REVIEW, level1_at__isnull=False, levels_required__gte=2
            )
        return queryset


@admin.register(RefundSlip)
class RefundSlipAdmin(BigListMixin, EventLogMixin, ErpModelAdmin):
    change_form_template = "admin/refund_slips/refundslip/change_form.html"
    change_list_template = "admin/refund_slips/refundslip/change_list.html"
    list_display = [
        "number",
        "shop",
        "order_tid",
        "raw_refund",
        "source",
        "status_badge",
        "amount",
        "computed_amount",
        "review_text",
        "attention_text",
        "created_by_name",
        "created_at",
    ]
    list_filter = ["status", AttentionFilter, "source", "shop", ("created_at", DateRangeFilter)]
    export_enabled = True
    list_select_related = ["shop", "order", "raw_refund"]
    search_fields = ["order__tid"]
    search_help_text = "平台订单号、平台退款单号输入开头几位即可（前缀匹配）"
    readonly_fields = [
        "number",
        "order_link",
        "return_slip_link",
        "quote_block",
        "current_quote_block",
        "lines_block",
        "adjustments_block",
        "review_block",
        "event_log",
    ]
    fieldsets = [
        (
            "退款单",
            {
                "fields": [
                    "number",
                    "shop",
                    "order_link",
                    "raw_refund",
                    "return_slip_link",
                    "source",
                    "status",
                    "reason",
                    "attention",
                    "created_by_name",
                    "created_at",
                ]
            },
        ),
        (
            "退款金额",
            {
                "fields": [
                    "amount",
                    "computed_amount",
                    "strategy",
                    "quote_block",
                    "current_quote_block",
                    "lines_block",
                    "adjustments_block",
                ]
            },
        ),
        ("审核", {"fields": ["review_block"]}),
        (
            "退款",
            {"fields": ["refunded_at", "refunded_by_name", "platform_refund_amount", "amount_difference"]},
        ),
        ("操作日志", {"fields": ["event_log"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = [f.name for f in self.model._meta.fields]
        return list(dict.fromkeys([*fields, *self.readonly_fields]))

    def has_add_permission(self, request):
        return False  # 建退款单 has its own page (the service computes the amount)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        return prefix_search(queryset, search_term, ["order__tid", "raw_refund__refund_no"])

    # --- columns ---------------------------------------------------------------------------------------
    @admin.display(description="退款单号", ordering="pk")
    def number(self, obj):
        return obj.number

    @admin.display(description="平台订单号", ordering="order__tid")
    def order_tid(self, obj):
        return obj.order.tid

    @admin.display(description="状态", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), STATUS_COLOURS[obj.status])

    @admin.display(description="审核")
    def review_text(self, obj):
        if obj.level2_at:
            return f"一级 {obj.level1_by_name} / 二级 {obj.level2_by_name}"
        if obj.awaiting_level2:
            return format_html(
                '<span style="color:#d46b08">一级 {} 已审，待二级审核</span>', obj.level1_by_name
            )
        return f"一级 {obj.level1_by_name}" if obj.level1_at else ""

    @admin.display(description="需关注")
    def attention_text(self, obj):
        text = "；".join(t for t in (obj.attention, obj.amount_difference) if t)
        return format_html('<span style="color:#cf1322">{}</span>', text) if text else ""

    @admin.display(description="系统订单")
    def order_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>　{}　{}　实付 {} 元（运费 {} 元）',
            obj.order.get_absolute_url(),
            obj.order.tid,
            obj.order.get_status_display(),
            obj.order.get_pay_type_display(),
            obj.order.paid,
            obj.order.post_amount,
        )

    @admin.display(description="退货单")
    def return_slip_link(self, obj):
        slips = [obj.return_slip] if obj.return_slip_id else []
        if not slips and obj.raw_refund_id:
            # Made from the raw refund slip before its return slip existed: the same case.
            slips = list(obj.raw_refund.return_slips.order_by("pk"))
        if not slips:
            return "无（不需要退货，或尚未建退货单）"
        return format_html_join(
            "　",
            '<a href="{}">{}</a>（{}）',
            (
                (reverse("admin:returns_returnslip_change", args=[s.pk]), s.number, s.get_status_display())
                for s in slips
            ),
        )

    @admin.display(description="按店铺当前规则试算")
    def current_quote_block(self, obj):
        if obj.status != RefundSlipStatus.PENDING_REVIEW:
            return "-"
        lines = dict(obj.lines.values_list("order_line_id", "quantity"))
        if not lines:
            return "无退款商品（手工补偿），无需试算"
        quote = refund_quote(
            order_id=obj.order_id, lines=None if obj.whole_order else lines, exclude_slip_id=obj.pk
        )
        verdict = f"不能退款：{quote.refusal}" if quote.refusal else f"应退 {quote.amount} 元"
        if not quote.refusal and quote.amount == obj.computed_amount:
            verdict += "（与建单时一致）"
        return format_html(
            '<div>{}</div><pre style="white-space:pre-wrap;margin:0">{}</pre>', verdict, quote.text
        )

    @admin.display(description="金额计算（建单时）")
    def quote_block(self, obj):
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', obj.quote or "-")

    @admin.display(description="退款明细")
    def lines_block(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (x.order_line.oid, x.order_line.goods_name, x.order_line.num, x.quantity, x.amount)
                for x in obj.lines.select_related("order_line")
            ),
        )
        return format_html(
            "<table><thead><tr><th>原始子单号</th><th>货品</th><th>购买数量</th><th>退款数量</th>"
            "<th>计算金额</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="金额调整")
    def adjustments_block(self, obj):
        rows = list(obj.adjustments.all())
        if not rows:
            return "无（应退金额 = 计算金额）"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    x.get_kind_display(),
                    f"{x.amount:+}",
                    x.reason,
                    x.by_name,
                    f"{timezone.localtime(x.created_at):%Y-%m-%d %H:%M}",
                )
                for x in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>类型</th><th>金额</th><th>原因</th><th>操作人</th><th>时间</th></tr></thead>"
            "<tbody>{}</tbody></table><p>计算金额 {} 元，调整后应退 {} 元</p>",
            body,
            obj.computed_amount,
            obj.amount,
        )

    @admin.display(description="审核记录")
    def review_block(self, obj):
        settings = ShopRefundSettings.objects.filter(shop_id=obj.shop_id).first()
        lines = [f"需审核级数：{obj.levels_required}" if obj.level1_at else "尚未审核"]
        if obj.level1_at:
            lines.append(
                f"一级审核：{obj.level1_by_name}，{timezone.localtime(obj.level1_at):%Y-%m-%d %H:%M:%S}"
            )
        if obj.level2_at:
            lines.append(
                f"二级审核：{obj.level2_by_name}，{timezone.localtime(obj.level2_at):%Y-%m-%d %H:%M:%S}"
            )
        if settings:
            limit2 = f"{settings.level2_limit} 元" if settings.level2_limit is not None else "不限"
            lines.append(f"店铺规则：一级审核上限 {settings.level1_limit} 元，二级审核上限 {limit2}")
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    # --- pages and buttons -----------------------------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "create/", self.admin_site.admin_view(self.create_view), name="refund_slips_refundslip_create"
            ),
            path(
                "from-return/<int:return_slip_id>/",
                self.admin_site.admin_view(self.from_return_view),
                name="refund_slips_refundslip_from_return",
            ),
            path(
                "<int:slip_id>/do/<str:action>/",
                self.admin_site.admin_view(self.action_view),
                name="refund_slips_refundslip_action",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_create": request.user.has_perm(CREATE_PERM)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        slip = self.get_object(request, object_id)
        can_adjust = (
            slip is not None
            and slip.status == RefundSlipStatus.PENDING_REVIEW
            and request.user.has_perm(ADJUST_PERM)
        )
        extra_context = {
            **(extra_context or {}),
            "action_buttons": allowed_actions(slip, request.user) if slip else [],
            "can_adjust": can_adjust,
            "adjust_kinds": AdjustmentKind.choices,
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def action_view(self, request, slip_id, action):
        back = HttpResponseRedirect(reverse("admin:refund_slips_refundslip_change", args=[slip_id]))
        if request.method != "POST":
            return back
        slip = get_object_or_404(RefundSlip, pk=slip_id)
        if not self.has_view_permission(request, slip):
            raise PermissionDenied
        reason = request.POST.get("reason", "").strip()
        try:
            if action == "approve":
                message = refund_slip_approve(slip.pk, by=request.user).message
            elif action == "reject":
                refund_slip_reject(slip.pk, by=request.user, reason=reason)
                message = f"退款单 {slip.number} 已驳回"
            elif action == "cancel":
                refund_slip_cancel(slip.pk, by=request.user, reason=reason)
                message = f"退款单 {slip.number} 已取消"
            elif action == "mark_refunded":
                refund_slip_mark_refunded(
                    slip.pk,
                    by=request.user,
                    amount=request.POST.get("amount", "").strip() or None,
                    reason=reason,
                )
                message = f"退款单 {slip.number} 已确认退款完成"
            elif action == "adjust":
                refund_slip_adjust(
                    slip.pk,
                    by=request.user,
                    kind=request.POST.get("kind", ""),
                    amount=request.POST.get("amount", "").strip(),
                    reason=reason,
                )
                message = f"退款单 {slip.number} 金额已调整"
            elif action == "freight":
                refund_slip_add_freight(slip.pk, by=request.user, reason=reason or "客服同意退运费")
                message = f"退款单 {slip.number} 已加运费"
            else:
                self.message_user(request, "未知操作", messages.ERROR)
                return back
        except RefundSlipRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, message, messages.SUCCESS)
        return back

    def from_return_view(self, request, return_slip_id):
        """建退款单 from a return slip (入库完成): the return slip page's button."""
        if not request.user.has_perm(CREATE_PERM):
            raise PermissionDenied
        return_slip = get_object_or_404(ReturnSlip, pk=return_slip_id)
        if request.method == "POST":
            try:
                slip = refund_slip_create(return_slip_id=return_slip.pk, by=request.user)
            except RefundSlipRefused as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request, f"已创建退款单 {slip.number}（待审核，应退 {slip.amount} 元）", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:refund_slips_refundslip_change", args=[slip.pk]))
        return HttpResponseRedirect(reverse("admin:returns_returnslip_change", args=[return_slip.pk]))

    def create_view(self, request):
        """建退款单 by hand: find the order, choose lines and quantities (or the whole order), and/or a
        compensation with its reason; 试算 shows the amount and its arithmetic without creating."""
        if not request.user.has_perm(CREATE_PERM):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        tid = (data.get("tid") or "").strip()
        orders = (
            list(Order.objects.filter(tid=tid).select_related("shop").prefetch_related("lines", "promotions"))
            if tid
            else []
        )
        quote = error = None
        if request.method == "POST" and len(orders) == 1:
            order = orders[0]
            whole = data.get("whole_order") == "1"
            lines, error = {}, None
            for line in order.lines.all():
                raw = data.get(f"qty-{line.pk}", "").strip() or "0"
                if not raw.isdigit():
                    error = f"子订单 {line.oid}：退款数量“{raw}”不是整数"
                    break
                if int(raw) > 0:
                    lines[line.pk] = int(raw)
            compensation = data.get("compensation", "").strip() or None
            reason = data.get("reason", "").strip()
            if error:
                self.message_user(request, error, messages.ERROR)
            elif "create" in data:
                try:
                    slip = refund_slip_create(
                        by=request.user,
                        order_id=order.pk,
                        lines=lines,
                        whole_order=whole,
                        compensation=compensation,
                        reason=reason,
                    )
                except RefundSlipRefused as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"已创建退款单 {slip.number}（待审核，应退 {slip.amount} 元）",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:refund_slips_refundslip_change", args=[slip.pk])
                    )
            elif whole or lines:
                quote = refund_quote(order_id=order.pk, lines=None if whole else lines)
        context = {
            **self.admin_site.each_context(request),
            "title": "建退款单（手工）",
            "opts": self.model._meta,
            "tid": tid,
            "orders": orders,
            "post": request.POST,
            "quote": quote,
            "settings": ShopRefundSettings.objects.filter(shop=orders[0].shop).first()
            if len(orders) == 1
            else None,
        }
        return TemplateResponse(request, "admin/refund_slips/refundslip/create.html", context)


@admin.register(ShopRefundSettings)
class ShopRefundSettingsAdmin(ErpModelAdmin):
    """The shop's refund rules page: strategy, review levels, keyword lists."""

    list_display = ["shop", "strategy", "level1_limit", "level2_limit"]
    list_select_related = ["shop"]
    fieldsets = [
        (None, {"fields": ["shop"]}),
        ("退款金额", {"fields": ["strategy"]}),
        ("审核（按金额分级）", {"fields": ["level1_limit", "level2_limit"]}),
        (
            "关键词识别（买家描述与申请类型不符时标记“需关注”）",
            {"fields": ["return_keywords", "exchange_keywords", "repair_keywords"]},
        ),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # New keywords apply to the shop's slips at once, not only to the next download.
        changed = raw_refunds_keyword_check(shop_id=obj.shop_id)
        if changed:
            self.message_user(
                request, f"已按新关键词重新检查，{changed} 张原始退款单的关键词预警有变化", messages.INFO
            )
