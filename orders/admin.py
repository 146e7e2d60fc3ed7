from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Min
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

from core.admin_utils import (
    ErpModelAdmin,
    EventLogMixin,
    PlatformDataAdmin,
    badge,
    exact_search,
    prefix_search,
)
from core.audit import record_event
from refunds.services import raw_refund_confirm_interception
from sa_sync.admin import rejected_rows_link
from sa_sync.models import SyncRun
from sa_sync.selectors import latest_run_fields

from .models import (
    InterceptionStatus,
    Order,
    OrderLine,
    OrderPromotion,
    OrderStatus,
    PendingInterception,
    Shop,
)
from .services import (
    ORDER_STEPS,
    OrderStepRefused,
    order_advance,
    order_steps_for,
    shop_mark_credentials_working,
)

ORDER_STATUS_COLOURS = {
    OrderStatus.CANCELLED: "grey",
    OrderStatus.AWAITING_PAYMENT: "orange",
    OrderStatus.AWAITING_CS_REVIEW: "blue",
    OrderStatus.AWAITING_FINANCE_REVIEW: "blue",
    OrderStatus.IN_WAREHOUSE: "purple",
    OrderStatus.SHIPPED: "green",
    OrderStatus.COMPLETED: "green",
}
INTERCEPTION_COLOURS = {
    InterceptionStatus.NONE: "grey",
    InterceptionStatus.PENDING: "orange",
    InterceptionStatus.SUCCEEDED: "green",
    InterceptionStatus.FAILED: "red",
}

SECRET_FIELDS = ("app_secret", "access_token")


class ShopForm(forms.ModelForm):
    """The secret and the token are write-only: the form never renders them; blank keeps the old value."""

    app_secret = forms.CharField(
        label="App Secret",
        required=False,
        max_length=Shop._meta.get_field("app_secret").max_length,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="出于安全考虑不回显；留空表示不修改。",
    )
    access_token = forms.CharField(
        label="Access Token",
        required=False,
        max_length=Shop._meta.get_field("access_token").max_length,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="出于安全考虑不回显；留空表示不修改。重新授权后在此填写新的 token。",
    )

    class Meta:
        model = Shop
        fields = [
            "platform",
            "shop_no",
            "name",
            "vender_id",
            "app_key",
            "app_secret",
            "access_token",
            "sa_writeback_enabled",
            "service_order_return_signal",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.initial[name] = ""

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(Shop.objects.only(name).get(pk=self.instance.pk), name)
        return cleaned


@admin.register(Shop)
class ShopAdmin(EventLogMixin, ErpModelAdmin):
    form = ShopForm
    list_display = [
        "shop_no",
        "name",
        "platform",
        "credentials",
        "sa_writeback_enabled",
        "is_active",
        "last_sync",
        "last_sync_error_text",
    ]
    list_filter = ["platform", "sa_writeback_enabled", "is_active"]
    search_fields = ["shop_no", "name"]
    readonly_fields = [
        "credentials",
        "app_secret_status",
        "access_token_status",
        "sync_summary",
        "created_at",
        "updated_at",
        "event_log",
    ]
    fieldsets = [
        (None, {"fields": ["platform", "shop_no", "name", "vender_id", "is_active"]}),
        (
            "京东开放平台(JOS)授权",
            {
                "fields": [
                    "app_key",
                    "app_secret_status",
                    "app_secret",
                    "access_token_status",
                    "access_token",
                    "credentials",
                ]
            },
        ),
        ("SA售后自动化", {"fields": ["sa_writeback_enabled", "service_order_return_signal"]}),
        ("平台同步", {"fields": ["sync_summary"]}),
        ("记录", {"fields": ["created_at", "updated_at", "event_log"]}),
    ]

    def get_queryset(self, request):
        return latest_run_fields(super().get_queryset(request))

    def get_fieldsets(self, request, obj=None):
        # Django shows every field of a page the user may only view as read-only text, the model's
        # value included: without the right to change, the secret inputs leave the page entirely and
        # only their summaries (已设置（尾号 1234）) stay. The summaries mean nothing on a new shop.
        can_change = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        hidden = set() if can_change else set(SECRET_FIELDS)
        if obj is None:
            hidden |= {f"{name}_status" for name in SECRET_FIELDS}
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for title, options in super().get_fieldsets(request, obj)
        ]

    @admin.display(description="App Secret")
    def app_secret_status(self, obj):
        return obj.secret_summary("app_secret")

    @admin.display(description="Access Token")
    def access_token_status(self, obj):
        return obj.secret_summary("access_token")

    @admin.display(description="授权信息")
    def credentials(self, obj):
        if obj.credential_error:
            return badge(f"授权异常：{obj.credential_error}", "red")
        if obj.has_credentials:
            return badge("已配置", "green")
        return badge("未配置完整", "red")

    @admin.display(description="最近同步", ordering="last_sync_at")
    def last_sync(self, obj):
        if not obj.last_sync_at:
            return "尚未同步"
        label = {"succeeded": "成功", "failed": "失败", "running": "进行中"}[obj.last_sync_status]
        colour = {"succeeded": "green", "failed": "red", "running": "blue"}[obj.last_sync_status]
        return format_html(
            "{} {}", localtime(obj.last_sync_at).strftime("%m-%d %H:%M:%S"), badge(label, colour)
        )

    @admin.display(description="最近同步错误")
    def last_sync_error_text(self, obj):
        return obj.last_sync_error or "-"

    @admin.display(description="最近同步")
    def sync_summary(self, obj):
        runs = list(SyncRun.objects.filter(shop=obj).order_by("-id")[:6]) if obj.pk else []
        if not runs:
            return "尚未同步"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    localtime(r.started_at).strftime("%Y-%m-%d %H:%M:%S"),
                    r.get_kind_display(),
                    r.get_status_display(),
                    r.pages,
                    r.rows_new,
                    r.rows_updated,
                    rejected_rows_link(r.rows_rejected, run__id__exact=r.pk, outcome__exact="rejected"),
                    r.error or "-",
                )
                for r in runs
            ),
        )
        return format_html(
            "<table><thead><tr><th>开始</th><th>内容</th><th>结果</th><th>页数</th><th>新增</th><th>更新</th>"
            "<th>异常未保存</th><th>错误</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def save_model(self, request, obj, form, change):
        changed = [f for f in form.changed_data if f not in SECRET_FIELDS]
        secrets_changed = [f for f in SECRET_FIELDS if form.cleaned_data.get(f) and f in form.changed_data]
        for name in secrets_changed:
            setattr(obj, f"{name}_changed_at", timezone.now())
        super().save_model(request, obj, form, change)
        if change and (changed or secrets_changed):
            # Secrets are named, never their values.
            reason = "修改字段：" + "、".join(str(form.fields[f].label) for f in changed + secrets_changed)
            record_event(obj, action="修改店铺", by=request.user, reason=reason)
            if secrets_changed or "app_key" in changed:
                # New credentials: let the next call find out whether they work.
                shop_mark_credentials_working([obj.pk])
        elif not change:
            record_event(obj, action="新建店铺", by=request.user)


def interception_label(line) -> str:
    """拦截成功（1/3 件） when an interception stops part of a line: the rest still ships."""
    label = line.get_interception_status_display()
    if line.interception_status != InterceptionStatus.NONE and 0 < line.intercept_num < line.num:
        label = f"{label}（{line.intercept_num}/{line.num} 件）"
    return label


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = [
        "oid",
        "goods_no",
        "spec_no",
        "goods_name",
        "spec_name",
        "num",
        "price",
        "discount",
        "paid",
        "is_cancelled",
        "interception_badge",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="拦截状态")
    def interception_badge(self, obj):
        return badge(interception_label(obj), INTERCEPTION_COLOURS[obj.interception_status])


class OrderPromotionInline(admin.TabularInline):
    """Order-level promotions (满减…): what a partial refund is computed against."""

    model = OrderPromotion
    extra = 0
    can_delete = False
    fields = ["kind", "name", "threshold", "discount", "oids", "promotion_no"]
    readonly_fields = fields
    verbose_name_plural = "订单优惠（订单级，退款按店铺规则处理）"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(PlatformDataAdmin):
    list_display = [
        "tid",
        "shop",
        "status_badge",
        "pay_type",
        "buyer_nick",
        "paid",
        "trade_time",
        "updated_at",
    ]
    list_filter = ["shop", "status", "pay_type", ("trade_time", admin.DateFieldListFilter)]
    list_select_related = ["shop"]
    search_fields = ["tid"]
    search_help_text = "平台订单号输入开头几位即可（前缀匹配）；买家账号需完整输入"
    export_enabled = True
    change_form_template = "admin/orders/order/change_form.html"
    inlines = [OrderLineInline, OrderPromotionInline]
    readonly_fields = ["refund_slips", "return_slips", "event_log"]

    def get_fieldsets(self, request, obj=None):
        model_fields = [f.name for f in self.model._meta.fields if f.name != "id"]
        return [
            (None, {"fields": model_fields}),
            ("原始退款单", {"fields": ["refund_slips"]}),
            ("退货单", {"fields": ["return_slips"]}),
            ("操作日志", {"fields": ["event_log"]}),
        ]

    def get_search_results(self, request, queryset, search_term):
        return prefix_search(queryset, search_term, ["tid"], exact_fields=["buyer_nick"])

    def get_urls(self):
        return [
            path(
                "<int:pk>/step/<str:step>/",
                self.admin_site.admin_view(self.step_view),
                name="orders_order_step",
            ),
            *super().get_urls(),
        ]

    def step_view(self, request, pk, step):
        """客审通过 / 财审通过 / 审核 / 发货: one service, which checks the permission itself."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = get_object_or_404(Order, pk=pk)
        known = ORDER_STEPS.get(step)
        if known is None:
            raise Http404
        if not request.user.has_perm(known.permission):
            raise PermissionDenied
        try:
            order = order_advance(
                order.pk, step, by=request.user, logistics_no=request.POST.get("logistics_no", "")
            )
        except OrderStepRefused as refused:
            self.message_user(request, refused.message, messages.ERROR)
        else:
            self.message_user(
                request, f"订单 {order.tid}：{known.label}，现为“{order.get_status_display()}”。"
            )
        return HttpResponseRedirect(order.get_absolute_url())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = Order.objects.filter(pk=object_id).first()
        steps = order_steps_for(order, request.user) if order else []
        extra_context = {**(extra_context or {}), "order_steps": steps}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="原始退款单")
    def refund_slips(self, obj):
        from refunds.admin import order_slips_table  # refunds.admin draws on this module's tables

        return order_slips_table(obj.raw_refunds.order_by("-id")[:100]) if obj.pk else "-"

    @admin.display(description="退货单")
    def return_slips(self, obj):
        if obj.pk is None:
            return "-"
        slips = list(obj.return_slips.order_by("-id")[:100])
        if not slips:
            return "暂无退货单"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:returns_returnslip_change", args=[s.pk]),
                    s.number,
                    s.get_status_display(),
                    s.logistics_no or "-",
                    f"{timezone.localtime(s.created_at):%Y-%m-%d %H:%M}",
                )
                for s in slips
            ),
        )
        return format_html(
            '<table class="erp-table erp-order-returns"><thead><tr><th>退货单号</th><th>状态</th>'
            "<th>物流单号</th><th>创建时间</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="订单状态", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), ORDER_STATUS_COLOURS[obj.status])


@admin.register(OrderLine)
class OrderLineAdmin(PlatformDataAdmin):
    list_display = ["oid", "order_link", "shop", "goods_name", "num", "paid", "is_cancelled", "interception"]
    list_filter = ["shop", "is_cancelled", "interception_status"]
    list_select_related = ["order", "shop"]
    search_fields = ["oid"]
    search_help_text = "按原始子单号、平台订单号或货品编号精确查找"
    readonly_fields = ["event_log"]

    def get_search_results(self, request, queryset, search_term):
        return exact_search(queryset, search_term, ["oid", "order__tid", "goods_no"])

    @admin.display(description="系统订单", ordering="order__tid")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>', obj.order.get_absolute_url(), obj.order.tid)

    @admin.display(description="拦截状态", ordering="interception_status")
    def interception(self, obj):
        return badge(interception_label(obj), INTERCEPTION_COLOURS[obj.interception_status])


def lines_table(lines, highlight_id=None):
    rows = format_html_join(
        "",
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                mark_safe(' style="background:#fffbe6"') if line.pk == highlight_id else "",
                line.oid,
                line.goods_name,
                line.spec_name or "-",
                line.num,
                line.paid,
                "是" if line.is_cancelled else "否",
                interception_label(line),
            )
            for line in lines
        ),
    )
    return format_html(
        "<table><thead><tr><th>原始子单号</th><th>货品</th><th>规格</th><th>数量</th><th>实付</th>"
        "<th>已取消</th><th>拦截状态</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


class WaitingFirstChangeList(ChangeList):
    """The worklist opens with the longest waiting first (its annotation, so not ModelAdmin.ordering,
    which get_queryset would apply before the annotation exists)."""

    def _get_default_ordering(self):
        return ["applied_first", "pk"]


@admin.register(PendingInterception)
class PendingInterceptionAdmin(PlatformDataAdmin):
    """仓库's worklist: confirm whether each pending line was stopped before it left."""

    list_display = [
        "oid",
        "order_link",
        "shop_name",
        "goods",
        "num",
        "order_status",
        "refund_nos",
        "applied_at",
        "waiting",
        "row_buttons",
    ]
    list_filter = ["shop"]

    def get_changelist(self, request, **kwargs):
        return WaitingFirstChangeList

    list_select_related = ["order", "shop"]
    search_fields = ["oid"]
    search_help_text = "按原始子单号或平台订单号精确查找"
    actions = ["confirm_succeeded", "confirm_failed"]
    readonly_fields = ["event_log"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(interception_status=InterceptionStatus.PENDING)
            .annotate(applied_first=Min("raw_refunds__apply_time"))
            .prefetch_related("raw_refunds")
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/confirm/<str:answer>/",
                self.admin_site.admin_view(self.confirm_view),
                name="orders_pendinginterception_confirm",
            ),
            *super().get_urls(),
        ]

    def confirm_view(self, request, pk, answer):
        """The row buttons. 拦截成功 acts at once; 拦截失败 (the goods left: CS must then handle the
        refund by hand) first shows what it means and asks."""
        if answer not in ("succeeded", "failed"):
            raise Http404
        if not self.has_confirm_permission(request):
            raise PermissionDenied
        line = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST":
            message = raw_refund_confirm_interception(
                line.pk, succeeded=answer == "succeeded", by=request.user
            )
            self.message_user(request, message)
            return HttpResponseRedirect(reverse("admin:orders_pendinginterception_changelist"))
        if answer == "succeeded":
            return HttpResponseNotAllowed(["POST"])
        context = {
            **self.admin_site.each_context(request),
            "title": "确认拦截失败",
            "opts": self.model._meta,
            "lines": [line],
            "post_url": request.path,
            "list_url": reverse("admin:orders_pendinginterception_changelist"),
        }
        return TemplateResponse(request, "admin/orders/pendinginterception/confirm_failed.html", context)

    def get_search_results(self, request, queryset, search_term):
        return exact_search(queryset, search_term, ["oid", "order__tid"])

    def has_confirm_permission(self, request):
        return request.user.has_perm("orders.confirm_interception")

    @admin.display(description="系统订单")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>', obj.order.get_absolute_url(), obj.order.tid)

    @admin.display(description="订单状态")
    def order_status(self, obj):
        return obj.order.get_status_display()

    @admin.display(description="退款单")
    def refund_nos(self, obj):
        return "、".join(slip.refund_no for slip in obj.raw_refunds.all())

    @admin.action(description="确认拦截成功（货品未出库）", permissions=["confirm"])
    def confirm_succeeded(self, request, queryset):
        self._confirm(request, queryset, succeeded=True)

    @admin.action(description="确认拦截失败（货品已出库）", permissions=["confirm"])
    def confirm_failed(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            # Ask first, as Django asks before deleting: the same selection, posted again.
            context = {
                **self.admin_site.each_context(request),
                "title": "确认拦截失败",
                "opts": self.model._meta,
                "lines": list(queryset.select_related("order")),
                "action": "confirm_failed",
                "list_url": reverse("admin:orders_pendinginterception_changelist"),
            }
            return TemplateResponse(request, "admin/orders/pendinginterception/confirm_failed.html", context)
        self._confirm(request, queryset, succeeded=False)
        return None

    @admin.display(description="店铺", ordering="shop__name")
    def shop_name(self, obj):
        return obj.shop.name

    @admin.display(description="货品")
    def goods(self, obj):
        return f"{obj.goods_name} {obj.spec_name}".strip()

    @admin.display(description="申请时间", ordering="applied_first")
    def applied_at(self, obj):
        if obj.applied_first is None:
            return "-"
        return f"{localtime(obj.applied_first):%m-%d %H:%M}"

    @admin.display(description="已等待", ordering="applied_first")
    def waiting(self, obj):
        if obj.applied_first is None:
            return "-"
        minutes = int((timezone.now() - obj.applied_first).total_seconds() // 60)
        text = (
            f"{minutes // 1440}天{minutes % 1440 // 60}小时"
            if minutes >= 1440
            else f"{minutes // 60}小时{minutes % 60}分"
        )
        colour = "#cf1322" if minutes >= 240 else ("#d46b08" if minutes >= 60 else "#606266")
        return format_html('<span style="color:{}">{}</span>', colour, text)

    @admin.display(description="操作")
    def row_buttons(self, obj):
        if not getattr(self, "_can_confirm", False):
            return "-"
        ok = reverse("admin:orders_pendinginterception_confirm", args=[obj.pk, "succeeded"])
        failed = reverse("admin:orders_pendinginterception_confirm", args=[obj.pk, "failed"])
        return format_html(
            '<button type="submit" form="erp-row-form" formaction="{}" class="button erp-row-btn" '
            'data-answer="succeeded">拦截成功</button> '
            '<a href="{}" class="button erp-row-btn erp-row-btn-danger" data-answer="failed">拦截失败…</a>',
            ok,
            failed,
        )

    def changelist_view(self, request, extra_context=None):
        self._can_confirm = self.has_confirm_permission(request)
        return super().changelist_view(request, extra_context)

    def _confirm(self, request, queryset, succeeded):
        for line_id in queryset.order_by("pk").values_list("pk", flat=True):
            message = raw_refund_confirm_interception(line_id, succeeded=succeeded, by=request.user)
            self.message_user(request, message)
