from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core import signing
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

import platforms
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
from sa_sync import credentials
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

SECRET_FIELDS = ("app_secret", "access_token", "refresh_token")
# 去京东授权: the signed `state` JD hands back names the shop and the user, and ages out.
OAUTH_STATE_SALT = "orders.shop.jd-oauth"
OAUTH_STATE_MAX_AGE_SECONDS = 10 * 60


def _secret_input(field: str, label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=Shop._meta.get_field(field).max_length,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


class ShopForm(forms.ModelForm):
    """The secret and the tokens are write-only: the form never renders them; blank keeps the old value."""

    app_secret = _secret_input("app_secret", "App Secret", "出于安全考虑不回显；留空表示不修改。")
    access_token = _secret_input(
        "access_token",
        "Access Token",
        "出于安全考虑不回显；留空表示不修改。可点击「去京东授权」自动获取，也可在此粘贴京东给出的 token。",
    )
    refresh_token = _secret_input(
        "refresh_token",
        "Refresh Token",
        "出于安全考虑不回显；留空表示不修改。填写后系统会在 Access Token 到期前自动刷新。",
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
            "access_token_expires_at",
            "refresh_token",
            "sa_writeback_enabled",
            "service_order_return_signal",
            "is_active",
        ]
        help_texts = {
            "access_token_expires_at": "粘贴 Access Token 时可填写京东给出的到期时间；留空且填写了 Refresh Token 时，"
            "系统会在下次定时刷新时获知。",
        }

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


def _remaining(moment, now) -> str:
    """剩余 3 天 4 小时 / 剩余 5 小时 12 分 / 剩余 8 分"""
    seconds = int((moment - now).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"剩余 {days} 天 {hours} 小时"
    if hours:
        return f"剩余 {hours} 小时 {minutes} 分"
    return f"剩余 {max(minutes, 1)} 分"


def token_validity_badge(shop, now=None):
    """The access token's 剩余有效期 as a coloured badge (the list's column)."""
    now = now or timezone.now()
    if not shop.access_token:
        return badge("未设置", "grey")
    expires = shop.access_token_expires_at
    if expires is None:
        return badge("到期时间未知", "grey")
    if expires <= now:
        return badge("已过期", "red")
    colour = "orange" if expires - now <= credentials.refresh_window() else "green"
    return badge(_remaining(expires, now), colour)


@admin.register(Shop)
class ShopAdmin(EventLogMixin, ErpModelAdmin):
    form = ShopForm
    list_display = [
        "shop_no",
        "name",
        "platform",
        "credentials",
        "token_remaining",
        "sa_writeback_enabled",
        "is_active",
        "last_sync",
        "last_sync_error_text",
    ]
    list_filter = ["platform", "sa_writeback_enabled", "is_active"]
    change_form_template = "admin/orders/shop/change_form.html"
    search_fields = ["shop_no", "name"]
    readonly_fields = [
        "credentials",
        "app_secret_status",
        "access_token_status",
        "refresh_token_status",
        "token_validity",
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
                    "access_token_expires_at",
                    "refresh_token_status",
                    "refresh_token",
                    "token_validity",
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
            hidden |= {f"{name}_status" for name in SECRET_FIELDS} | {"token_validity"}
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

    @admin.display(description="Refresh Token")
    def refresh_token_status(self, obj):
        return obj.secret_summary("refresh_token")

    @admin.display(description="剩余有效期", ordering="access_token_expires_at")
    def token_remaining(self, obj):
        return token_validity_badge(obj)

    @admin.display(description="授权有效期")
    def token_validity(self, obj):
        now = timezone.now()

        def moment(value, unknown):
            if value is None:
                return unknown
            text = f"{localtime(value):%Y-%m-%d %H:%M}"
            return f"已于 {text} 过期" if value <= now else f"{text} 到期（{_remaining(value, now)}）"

        rows = [
            (
                "Access Token",
                format_html("{}", token_validity_badge(obj, now)),
                moment(obj.access_token_expires_at, "到期时间未知"),
            ),
            (
                "Refresh Token",
                "",
                moment(obj.refresh_token_expires_at, "京东未告知到期时间")
                if obj.refresh_token
                else "未设置，无法自动刷新",
            ),
            (
                "最近刷新",
                "",
                f"{localtime(obj.token_refreshed_at):%Y-%m-%d %H:%M}"
                if obj.token_refreshed_at
                else "尚未刷新",
            ),
        ]
        return format_html(
            '<table class="erp-table" id="token-validity"><tbody>{}</tbody></table>',
            format_html_join("", "<tr><th>{}</th><td>{} {}</td></tr>", rows),
        )

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
        # A pasted token's end is not the old token's: unknown unless typed with it (the next
        # scheduled refresh learns it when a refresh token is set).
        if "access_token" in secrets_changed and "access_token_expires_at" not in form.changed_data:
            obj.access_token_expires_at = None
        if "refresh_token" in secrets_changed:
            obj.refresh_token_expires_at = None
        super().save_model(request, obj, form, change)
        if change and (changed or secrets_changed):
            # Secrets are named, never their values.
            reason = "修改字段：" + "、".join(str(form.fields[f].label) for f in changed + secrets_changed)
            record_event(obj, action="修改店铺", by=request.user, reason=reason)
            if secrets_changed or "app_key" in changed:
                # New credentials: let the next call find out whether they work; a refused refresh
                # is over (the shop is authorised anew).
                shop_mark_credentials_working([obj.pk], reauthorised=True)
        elif not change:
            record_event(obj, action="新建店铺", by=request.user)

    # --- 京东授权: JD's authorisation page, its callback, and 立即刷新授权 --------------------------
    def get_urls(self):
        return [
            path(
                "jd-oauth/callback/",
                self.admin_site.admin_view(self.jd_oauth_callback_view),
                name="orders_shop_jd_oauth_callback",
            ),
            path(
                "<int:pk>/jd-oauth/",
                self.admin_site.admin_view(self.jd_authorize_view),
                name="orders_shop_jd_authorize",
            ),
            path(
                "<int:pk>/refresh-token/",
                self.admin_site.admin_view(self.refresh_token_view),
                name="orders_shop_refresh_token",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        shop = Shop.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        can_authorise = bool(shop and self.has_change_permission(request, shop))
        extra_context = {**(extra_context or {}), "can_authorise": can_authorise}
        return super().change_view(request, object_id, form_url, extra_context)

    def _shop_for_change(self, request, pk) -> Shop:
        shop = get_object_or_404(Shop, pk=pk)
        if not self.has_change_permission(request, shop):
            raise PermissionDenied
        return shop

    @staticmethod
    def _change_url(shop) -> str:
        return reverse("admin:orders_shop_change", args=[shop.pk])

    @staticmethod
    def oauth_redirect_uri(request) -> str:
        return settings.JD_OAUTH_REDIRECT_URI or request.build_absolute_uri(
            reverse("admin:orders_shop_jd_oauth_callback")
        )

    def jd_authorize_view(self, request, pk):
        """去京东授权: a page saying where the browser goes (JD's authorisation page, with a signed
        state naming the shop and the user) and which callback the JD app must have registered."""
        shop = self._shop_for_change(request, pk)
        if not (shop.app_key and shop.app_secret):
            self.message_user(
                request,
                "去京东授权前请先填写并保存店铺的 App Key 和 App Secret（京东开放平台应用的凭证）。",
                messages.ERROR,
            )
            return HttpResponseRedirect(self._change_url(shop))
        state = signing.dumps({"shop": shop.pk, "user": request.user.pk}, salt=OAUTH_STATE_SALT)
        redirect_uri = self.oauth_redirect_uri(request)
        context = {
            **self.admin_site.each_context(request),
            "title": f"去京东授权：{shop.name}",
            "shop": shop,
            "opts": self.model._meta,
            "authorize_url": platforms.platform_for(shop).authorize_url(redirect_uri, state),
            "redirect_uri": redirect_uri,
            "minutes": OAUTH_STATE_MAX_AGE_SECONDS // 60,
            "change_url": self._change_url(shop),
        }
        return TemplateResponse(request, "admin/orders/shop/jd_authorize.html", context)

    def jd_oauth_callback_view(self, request):
        """JD sends the merchant back here with ?code=…&state=…: check the state, exchange the code."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        back = reverse("admin:orders_shop_changelist")
        again = "未保存任何授权信息，请回到「店铺」页重新点击「去京东授权」。"
        try:
            state = signing.loads(
                request.GET.get("state", ""), salt=OAUTH_STATE_SALT, max_age=OAUTH_STATE_MAX_AGE_SECONDS
            )
        except signing.SignatureExpired:
            self.message_user(
                request,
                f"京东授权回调已过期（超过 {OAUTH_STATE_MAX_AGE_SECONDS // 60} 分钟）：{again}",
                messages.ERROR,
            )
            return HttpResponseRedirect(back)
        except signing.BadSignature:
            self.message_user(
                request, f"京东授权回调无效（state 校验失败，链接不完整或被改动）：{again}", messages.ERROR
            )
            return HttpResponseRedirect(back)
        if not isinstance(state, dict) or state.get("user") != request.user.pk:
            self.message_user(request, f"这次京东授权不是由当前登录用户发起的：{again}", messages.ERROR)
            return HttpResponseRedirect(back)
        shop = Shop.objects.filter(pk=state.get("shop")).first()
        if shop is None:
            self.message_user(request, f"京东授权回调对应的店铺不存在：{again}", messages.ERROR)
            return HttpResponseRedirect(back)
        if not self.has_change_permission(request, shop):
            raise PermissionDenied
        if request.GET.get("error"):
            words = (request.GET.get("error_description") or request.GET.get("error"))[:100]
            self.message_user(request, f"京东未完成授权（{words}），店铺授权未修改。", messages.ERROR)
            return HttpResponseRedirect(self._change_url(shop))
        code = request.GET.get("code", "").strip()
        if not code:
            self.message_user(request, f"京东授权回调缺少授权码（code）：{again}", messages.ERROR)
            return HttpResponseRedirect(self._change_url(shop))
        outcome = credentials.shop_authorise_with_code(shop, code=code, by=request.user)
        if outcome.ok:
            self.message_user(request, f"店铺「{shop.name}」已通过京东授权：{outcome.message}。")
        else:
            self.message_user(request, f"店铺「{shop.name}」：{outcome.message}", messages.ERROR)
        return HttpResponseRedirect(self._change_url(shop))

    def refresh_token_view(self, request, pk):
        """立即刷新授权: a confirmation page, then the refresh (POST)."""
        shop = self._shop_for_change(request, pk)
        if request.method == "POST":
            outcome = credentials.shop_refresh_token(shop, by=request.user, reason="立即刷新授权")
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(request, f"店铺「{shop.name}」：{outcome.message}", level)
            return HttpResponseRedirect(self._change_url(shop))
        context = {
            **self.admin_site.each_context(request),
            "title": f"立即刷新授权：{shop.name}",
            "shop": shop,
            "opts": self.model._meta,
            "validity": token_validity_badge(shop),
            "change_url": self._change_url(shop),
        }
        return TemplateResponse(request, "admin/orders/shop/refresh_token_confirm.html", context)


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
