from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin_utils import BigListMixin, ErpModelAdmin, EventLogMixin, ReadOnlyMixin, badge

from .keys import KeyRefused, api_key_create, api_key_revoke, api_key_set_review_level
from .models import ApiKey, DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription
from .outbox import EVENT_TYPES, event_type_choices
from .ssrf import UnsafeWebhookUrl, webhook_target

STATE_COLOURS = {"有效": "green", "已吊销": "grey", "已过期": "orange"}
DELIVERY_COLOURS = {
    DeliveryStatus.PENDING: "blue",
    DeliveryStatus.DELIVERED: "green",
    DeliveryStatus.FAILED: "red",
}


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["shop", "name", "expires_at", "review_level"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "review_level" in self.fields:
            self.fields["review_level"].required = False  # left out: 不可审核

    def clean_review_level(self):
        return self.cleaned_data.get("review_level") or 0


@admin.register(ApiKey)
class ApiKeyAdmin(EventLogMixin, ErpModelAdmin):
    """Keys are created here (shown once, in the message after saving) and revoked; only their refund-slip
    review level is edited later."""

    form = ApiKeyForm
    list_display = [
        "name",
        "shop",
        "lookup",
        "state_badge",
        "review_level",
        "expires_at",
        "last_used_at",
        "created_by_name",
        "created_at",
    ]
    list_filter = ["shop"]
    list_select_related = ["shop"]
    readonly_fields = [
        "lookup",
        "state_badge",
        "last_used_at",
        "revoked_at",
        "revoked_by_name",
        "created_by_name",
        "created_at",
        "event_log",
    ]
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["shop", "name", "expires_at", "review_level"]
        return [
            "shop",
            "name",
            "review_level",
            "lookup",
            "state_badge",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "revoked_by_name",
            "created_by_name",
            "created_at",
            "event_log",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["shop", "name", "expires_at", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the event log keeps who used which key

    @admin.display(description="状态")
    def state_badge(self, obj):
        state = obj.state()
        return badge(state, STATE_COLOURS[state])

    def save_model(self, request, obj, form, change):
        if change:
            # Only the review level changes on a saved key (the rest is read-only).
            api_key_set_review_level(
                obj.pk, by=request.user, review_level=form.cleaned_data.get("review_level") or 0
            )
            return
        try:
            key, raw = api_key_create(
                shop=form.cleaned_data["shop"],
                name=form.cleaned_data["name"],
                by=request.user,
                expires_at=form.cleaned_data.get("expires_at"),
                review_level=form.cleaned_data.get("review_level") or 0,
            )
        except KeyRefused as refused:
            form.add_error(None, refused.message)
            raise
        obj.pk = key.pk
        self._raw_key = raw

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except KeyRefused as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(self, "_raw_key", None)
        if raw:
            self.message_user(
                request,
                format_html(
                    '已创建API密钥（只显示这一次，请立即复制保存；系统只保存其哈希）：<code style="user-select:all">{}</code>',
                    raw,
                ),
                messages.WARNING,
            )
            self._raw_key = None
        return HttpResponseRedirect(reverse("admin:api_apikey_change", args=[obj.pk]))

    @admin.action(description="吊销所选密钥", permissions=["change"])
    def revoke_selected(self, request, queryset):
        for key in queryset.order_by("pk"):
            api_key_revoke(key.pk, by=request.user)
        self.message_user(
            request, f"已吊销 {queryset.count()} 个密钥，使用它们的请求将返回 401。", messages.SUCCESS
        )

    def get_urls(self):
        return [
            path(
                "<int:key_id>/revoke/", self.admin_site.admin_view(self.revoke_view), name="api_apikey_revoke"
            ),
            *super().get_urls(),
        ]

    def revoke_view(self, request, key_id):
        key = get_object_or_404(ApiKey, pk=key_id)
        if not self.has_change_permission(request, key):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:api_apikey_change", args=[key.pk]))
        api_key_revoke(key.pk, by=request.user)
        self.message_user(request, f"密钥“{key.name}”已吊销。", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:api_apikey_change", args=[key.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        key = ApiKey.objects.filter(pk=object_id).first()
        extra = {**(extra_context or {})}
        if key is not None and key.revoked_at is None and self.has_change_permission(request, key):
            extra["revoke_url"] = reverse("admin:api_apikey_revoke", args=[key.pk])
        return super().change_view(request, object_id, form_url, extra)

    change_form_template = "admin/api/apikey/change_form.html"


class ReceiverUrlField(forms.URLField):
    """Django's URL pattern is left out: api.ssrf says what is wrong (odd address spellings included) in
    words of its own, and whatever it accepts is what the sender can reach."""

    default_validators = []


class SubscriptionForm(forms.ModelForm):
    url = ReceiverUrlField(
        label="接收地址",
        max_length=500,
        assume_scheme="https",
        help_text="https:// 开头的公网地址；内网地址、本机地址与重定向均不发送（内网接收方须由运维放行）",
    )
    events = forms.MultipleChoiceField(label="订阅事件", widget=forms.CheckboxSelectMultiple, choices=())
    secret = forms.CharField(
        label="签名密钥",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="新建时留空则自动生成并在保存后显示一次；修改时留空表示不变",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["shop", "name", "url", "events", "secret", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = event_type_choices()

    def clean(self):
        cleaned = super().clean()
        url = cleaned.get("url")
        # Switching off a subscription saved before the address rule existed must stay possible
        # without first fixing its address; anything that will send is checked.
        unchanged = self.instance.pk is not None and url == self.instance.url
        if url and (cleaned.get("is_active") or not unchanged):
            try:
                webhook_target(url)
            except UnsafeWebhookUrl as exc:
                self.add_error("url", exc.message)
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ErpModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "shop", "url", "events_text", "is_active", "updated_at"]
    list_filter = ["shop", "is_active"]
    list_select_related = ["shop"]

    @admin.display(description="订阅事件")
    def events_text(self, obj):
        return "、".join(EVENT_TYPES[e].label if e in EVENT_TYPES else e for e in obj.events or [])

    def save_model(self, request, obj, form, change):
        import secrets

        new_secret = form.cleaned_data.get("secret")
        if new_secret:
            obj.secret = new_secret
        elif not change:
            obj.secret = secrets.token_urlsafe(32)
            self.message_user(
                request,
                format_html(
                    '已生成签名密钥（只显示这一次）：<code style="user-select:all">{}</code>', obj.secret
                ),
                messages.WARNING,
            )
        elif change:
            obj.secret = WebhookSubscription.objects.get(pk=obj.pk).secret
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, BigListMixin, ErpModelAdmin):
    list_display = [
        "id",
        "event_type",
        "subscription",
        "status_badge",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["status", "subscription__shop", "event__event_type"]
    list_select_related = ["event", "subscription", "subscription__shop"]
    readonly_fields = [
        "event",
        "subscription",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_response",
        "last_error",
        "history_table",
        "delivered_at",
        "created_at",
        "payload",
    ]
    exclude = ["history"]
    actions = ["retry_now"]

    @admin.display(description="事件类型")
    def event_type(self, obj):
        return obj.event.event_type

    @admin.display(description="状态")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), DELIVERY_COLOURS[obj.status])

    @admin.display(description="内容")
    def payload(self, obj):
        import json

        return format_html(
            '<pre style="white-space:pre-wrap">{}</pre>',
            json.dumps(obj.event.payload, ensure_ascii=False, indent=2),
        )

    @admin.display(description="发送记录")
    def history_table(self, obj):
        if not obj.history:
            return "尚未发送"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    h.get("at", ""),
                    h.get("status_code") or "-",
                    h.get("duration_ms", ""),
                    h.get("error", ""),
                    h.get("response", ""),
                )
                for h in reversed(obj.history)
            ),
        )
        return format_html(
            "<table><tr><th>时间</th><th>响应码</th><th>耗时(毫秒)</th><th>错误</th><th>响应</th></tr>{}</table>",
            rows,
        )

    def has_retry_permission(self, request):
        return request.user.has_perm("api.change_webhooksubscription")

    @admin.action(description="立即重发", permissions=["retry"])
    def retry_now(self, request, queryset):
        count = queryset.exclude(status=DeliveryStatus.DELIVERED).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now()
        )
        from .outbox import kick_delivery

        kick_delivery()
        self.message_user(request, f"已安排重发 {count} 条。", messages.SUCCESS)


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyMixin, BigListMixin, ErpModelAdmin):
    list_display = ["id", "event_type", "shop", "object_id", "created_at"]
    list_filter = ["event_type", "shop"]
    list_select_related = ["shop"]
