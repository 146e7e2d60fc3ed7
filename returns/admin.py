"""Return slips for CS (list, page, buttons for the allowed transitions, 建退货单 by hand) and the
warehouse's scan page (find the parcel, record good / damaged per line, 入库审核 in one form).
Thin: every button calls a service; refusals come back as the service's own words."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin_utils import BigListMixin, ErpModelAdmin, EventLogMixin, badge, prefix_search
from orders.models import Order

from .models import DEFAULT_INBOUND_TIME_LIMIT_DAYS, ReturnSlip, ReturnStatus, ShopReturnSettings
from .selectors import overdue_condition, raw_refund_return_summary, return_slips_for_scan
from .services import (
    ReturnRefused,
    allowed_transitions,
    return_inbound_audit,
    return_slip_accept_received,
    return_slip_create,
    return_slip_transition,
)

STATUS_COLOURS = {
    ReturnStatus.PENDING_REVIEW: "orange",
    ReturnStatus.AWAITING_INBOUND: "blue",
    ReturnStatus.AWAITING_CS: "red",
    ReturnStatus.INBOUND_DONE: "green",
    ReturnStatus.REJECTED: "grey",
    ReturnStatus.CANCELLED: "grey",
}
REVIEW_PERM = "returns.review_returnslip"
CREATE_PERM = "returns.add_returnslip"
AUDIT_PERM = "returns.audit_returninbound"


class OverdueFilter(admin.SimpleListFilter):
    title = "超时未入库"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "超时未入库（超过店铺时限，需客服跟进）")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(overdue_condition())
        return queryset


def lines_and_inbound_table(slip):
    inbound = getattr(slip, "inbound", None)
    received = {row.return_line_id: row for row in inbound.lines.all()} if inbound else {}
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                line.order_line.oid,
                line.order_line.goods_name,
                line.order_line.num,
                line.quantity,
                received[line.pk].good_quantity if line.pk in received else "-",
                received[line.pk].damaged_quantity if line.pk in received else "-",
            )
            for line in slip.lines.all()
        ),
    )
    return format_html(
        "<table><thead><tr><th>原始子单号</th><th>货品</th><th>购买数量</th><th>退货数量</th>"
        "<th>良品</th><th>残次</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.register(ReturnSlip)
class ReturnSlipAdmin(BigListMixin, EventLogMixin, ErpModelAdmin):
    export_enabled = True
    change_form_template = "admin/returns/returnslip/change_form.html"
    change_list_template = "admin/returns/returnslip/change_list.html"
    list_display = [
        "number",
        "shop",
        "order_tid",
        "raw_refund",
        "status_badge",
        "logistics_company",
        "logistics_no",
        "lines_summary",
        "overdue_text",
        "cs_message",
        "created_by_name",
        "created_at",
    ]
    list_filter = ["status", "shop", OverdueFilter, ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["shop", "order", "raw_refund"]
    search_fields = ["logistics_no"]
    search_help_text = "物流单号、平台退款单号输入开头几位即可（前缀匹配）；平台订单号需完整输入"
    readonly_fields = ["number", "order_link", "lines_block", "inbound_block", "event_log"]
    fieldsets = [
        (
            "退货单",
            {
                "fields": [
                    "number",
                    "shop",
                    "order_link",
                    "raw_refund",
                    "status",
                    "cs_message",
                    "logistics_company",
                    "logistics_no",
                    "remark",
                    "created_by_name",
                    "approved_at",
                    "created_at",
                ]
            },
        ),
        ("退货明细与入库", {"fields": ["lines_block", "inbound_block"]}),
        ("操作日志", {"fields": ["event_log"]}),
    ]

    def get_queryset(self, request):
        # The shop's 待入库时限 in the same query: the 超时 column costs no query per row.
        time_limit = ShopReturnSettings.objects.filter(shop_id=OuterRef("shop_id")).values(
            "inbound_time_limit_days"
        )[:1]
        return (
            super()
            .get_queryset(request)
            .prefetch_related("lines__order_line")
            .annotate(time_limit=Coalesce(Subquery(time_limit), Value(DEFAULT_INBOUND_TIME_LIMIT_DAYS)))
        )

    def get_readonly_fields(self, request, obj=None):
        fields = [f.name for f in self.model._meta.fields]
        return list(dict.fromkeys([*fields, *self.readonly_fields]))

    def has_add_permission(self, request):
        return False  # 建退货单 has its own page (quantities are checked by the service)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        return prefix_search(
            queryset, search_term, ["logistics_no", "raw_refund__refund_no"], exact_fields=["order__tid"]
        )

    # --- columns -------------------------------------------------------------------------------------
    @admin.display(description="退货单号", ordering="pk")
    def number(self, obj):
        return obj.number

    @admin.display(description="平台订单号", ordering="order__tid")
    def order_tid(self, obj):
        return obj.order.tid

    @admin.display(description="状态", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), STATUS_COLOURS[obj.status])

    @admin.display(description="明细")
    def lines_summary(self, obj):
        return "；".join(f"{line.order_line.goods_name} ×{line.quantity}" for line in obj.lines.all())

    @admin.display(description="超时")
    def overdue_text(self, obj):
        if obj.status != ReturnStatus.AWAITING_INBOUND or obj.approved_at is None:
            return ""
        limit = getattr(obj, "time_limit", DEFAULT_INBOUND_TIME_LIMIT_DAYS)
        days = (timezone.now() - obj.approved_at).days
        if days >= limit:
            return format_html('<span style="color:#cf1322">超时未入库（{} 天）</span>', days)
        return ""

    @admin.display(description="系统订单")
    def order_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>　{}',
            obj.order.get_absolute_url(),
            obj.order.tid,
            obj.order.get_status_display(),
        )

    @admin.display(description="退货明细")
    def lines_block(self, obj):
        return lines_and_inbound_table(obj)

    @admin.display(description="入库单")
    def inbound_block(self, obj):
        inbound = getattr(obj, "inbound", None)
        if inbound is None:
            return "尚未入库"
        if inbound.audited:
            return f"已审核：{timezone.localtime(inbound.audited_at):%Y-%m-%d %H:%M:%S}　{inbound.audited_by_name}"
        return f"已登记（{inbound.recorded_by_name}），未审核"

    # --- pages and buttons ------------------------------------------------------------------------------
    def get_urls(self):
        return [
            path("scan/", self.admin_site.admin_view(self.scan_view), name="returns_returnslip_scan"),
            path("create/", self.admin_site.admin_view(self.create_view), name="returns_returnslip_create"),
            path(
                "<int:slip_id>/do/<str:action>/",
                self.admin_site.admin_view(self.transition_view),
                name="returns_returnslip_transition",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_create": request.user.has_perm(CREATE_PERM),
            "can_scan": request.user.has_perm(AUDIT_PERM),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        slip = self.get_object(request, object_id)
        buttons = []
        if slip is not None and request.user.has_perm(REVIEW_PERM):
            buttons = list(allowed_transitions(slip))
            if slip.status == ReturnStatus.AWAITING_CS:
                buttons.append(("accept_received", "按实收确认"))
        extra_context = {
            **(extra_context or {}),
            "transition_buttons": buttons,
            "can_scan": slip is not None
            and slip.status == ReturnStatus.AWAITING_INBOUND
            and request.user.has_perm(AUDIT_PERM),
            "can_create_refund": slip is not None
            and slip.status == ReturnStatus.INBOUND_DONE
            and request.user.has_perm("refund_slips.add_refundslip"),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request, slip_id, action):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:returns_returnslip_change", args=[slip_id]))
        if not request.user.has_perm(REVIEW_PERM):
            raise PermissionDenied
        slip = get_object_or_404(ReturnSlip, pk=slip_id)
        reason = request.POST.get("reason", "").strip()
        try:
            if action == "accept_received":
                result = return_slip_accept_received(slip.pk, by=request.user, reason=reason)
                report_audit(self, request, result)
            else:
                return_slip_transition(slip.pk, action, by=request.user, reason=reason)
                self.message_user(request, f"退货单 {slip.number}：操作成功", messages.SUCCESS)
        except ReturnRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except ValueError:
            self.message_user(request, "未知操作", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:returns_returnslip_change", args=[slip.pk]))

    def create_view(self, request):
        """建退货单 by hand: find the order by its platform number, then quantities per line."""
        if not request.user.has_perm(CREATE_PERM):
            raise PermissionDenied
        tid = (request.POST.get("tid") or request.GET.get("tid") or "").strip()
        orders = (
            list(Order.objects.filter(tid=tid).select_related("shop").prefetch_related("lines"))
            if tid
            else []
        )
        if request.method == "POST" and "create" in request.POST and len(orders) == 1:
            order = orders[0]
            lines = {}
            for line in order.lines.all():
                raw = request.POST.get(f"qty-{line.pk}", "").strip() or "0"
                if not raw.isdigit():
                    self.message_user(request, f"子订单 {line.oid}：退货数量“{raw}”不是整数", messages.ERROR)
                    break
                if int(raw) > 0:
                    lines[line.pk] = int(raw)
            else:
                try:
                    slip = return_slip_create(
                        by=request.user,
                        order=order,
                        lines=lines,
                        logistics_company=request.POST.get("logistics_company", "").strip(),
                        logistics_no=request.POST.get("logistics_no", "").strip(),
                        remark=request.POST.get("remark", "").strip(),
                    )
                except ReturnRefused as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(request, f"已创建退货单 {slip.number}（待审核）", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:returns_returnslip_change", args=[slip.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "建退货单（手工）",
            "opts": self.model._meta,
            "tid": tid,
            "orders": orders,
            "post": request.POST,
        }
        return TemplateResponse(request, "admin/returns/returnslip/create.html", context)

    def scan_view(self, request):
        """仓库: scan or type the waybill (or order) number, record good / damaged, 入库审核."""
        if not request.user.has_perm(AUDIT_PERM):
            raise PermissionDenied
        term = (request.POST.get("q") or request.GET.get("q") or "").strip()
        if request.method == "POST" and request.POST.get("slip"):
            slip = get_object_or_404(ReturnSlip, pk=request.POST["slip"])
            received, error = {}, None
            for line in slip.lines.select_related("order_line"):
                good = request.POST.get(f"good-{line.pk}", "0").strip() or "0"
                damaged = request.POST.get(f"damaged-{line.pk}", "0").strip() or "0"
                if not (good.isdigit() and damaged.isdigit()):
                    error = f"子订单 {line.order_line.oid}：良品/残次数量须为非负整数"
                    break
                received[line.pk] = (int(good), int(damaged))
            if error:
                self.message_user(request, error, messages.ERROR)
            else:
                try:
                    result = return_inbound_audit(slip.pk, by=request.user, received=received)
                except ReturnRefused as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    report_audit(self, request, result)
                    return HttpResponseRedirect(reverse("admin:returns_returnslip_scan"))
        slips = list(return_slips_for_scan(term)) if term else []
        context = {
            **self.admin_site.each_context(request),
            "title": "退货入库（扫描物流单号）",
            "opts": self.model._meta,
            "q": term,
            "slips": slips,
            "awaiting": ReturnStatus.AWAITING_INBOUND,
        }
        return TemplateResponse(request, "admin/returns/returnslip/scan.html", context)


def report_audit(model_admin, request, result):
    """What the audit did, and per raw refund slip whether 退货入仓 went to JD or why not."""
    level = messages.SUCCESS if result.completed else messages.WARNING
    model_admin.message_user(request, result.message, level)
    sent = {r.slip_id: r for r in result.writeback_results}
    for raw_id, refusal in result.decisions.items():
        if raw_id in sent:
            r = sent[raw_id]
            text = "已回传退货入仓" if r.succeeded else f"退货入仓未成功：{r.message}"
            model_admin.message_user(
                request,
                f"原始退款单 {r.refund_no}：{text}",
                messages.SUCCESS if r.succeeded else messages.ERROR,
            )
        elif refusal:
            model_admin.message_user(
                request,
                f"原始退款单 {result.refund_nos.get(raw_id, raw_id)} 暂不回传：{refusal}",
                messages.INFO,
            )


@admin.register(ShopReturnSettings)
class ShopReturnSettingsAdmin(ErpModelAdmin):
    list_display = ["shop", "auto_create_from_refunds", "inbound_time_limit_days"]
    list_select_related = ["shop"]


def returns_block(raw_refund):
    """The raw refund slip's page: the line's return slips, the inbound of each audit, the total."""
    slips = raw_refund_return_summary(raw_refund)
    if not slips:
        return "暂无退货单"
    rows, running = [], 0
    for slip in slips:
        inbound = getattr(slip, "inbound", None)
        good = damaged = 0
        if inbound is not None:
            for row in inbound.lines.all():
                if row.return_line.order_line_id == raw_refund.order_line_id:
                    good += row.good_quantity
                    damaged += row.damaged_quantity
        audited = inbound is not None and inbound.audited
        if audited:
            running += good
        requested = sum(
            line.quantity for line in slip.lines.all() if line.order_line_id == raw_refund.order_line_id
        )
        rows.append(
            (
                reverse("admin:returns_returnslip_change", args=[slip.pk]),
                slip.number,
                slip.get_status_display(),
                requested,
                good if inbound else "-",
                damaged if inbound else "-",
                f"{timezone.localtime(inbound.audited_at):%Y-%m-%d %H:%M} {inbound.audited_by_name}"
                if audited
                else "未审核",
                running if audited else "-",
            )
        )
    body = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        rows,
    )
    return format_html(
        "<table><thead><tr><th>退货单</th><th>状态</th><th>退货数量</th><th>良品</th><th>残次</th>"
        "<th>入库审核</th><th>累计良品入库</th></tr></thead><tbody>{}</tbody></table>"
        "<p>累计良品入库 {} / 退款数量 {}（店铺到货规则：{}）</p>",
        body,
        raw_refund.inbound_num,
        raw_refund.num,
        raw_refund.shop.get_arrival_rule_display(),
    )
