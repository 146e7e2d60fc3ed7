"""The REST API's own records: keys per shop, webhook subscriptions, the outbox and its deliveries."""

import hashlib
import secrets

from django.db import models
from django.utils import timezone

from core.fields import EncryptedTextField
from orders.models import Shop

KEY_PREFIX = "erp_"


def hash_key(raw: str) -> str:
    """Keys are 32 random bytes: a plain SHA-256 is enough (no dictionary to guess from)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """One integration's key for one shop. Stored hashed; the key itself is shown once, at creation."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="api_keys", verbose_name="店铺")
    name = models.CharField("名称", max_length=64, help_text="例如 wms、bi：操作日志中以此名称记录接口写入")
    lookup = models.CharField("密钥前缀", max_length=16, unique=True, editable=False)
    key_hash = models.CharField("密钥哈希", max_length=64, editable=False)
    expires_at = models.DateTimeField("过期时间", null=True, blank=True, help_text="留空表示不过期")
    review_level = models.PositiveSmallIntegerField(
        "退款单审核级别",
        choices=[(0, "不可审核"), (1, "一级审核（同客服）"), (2, "二级审核（同财务）")],
        default=0,
        help_text="用此密钥调用退款单审核接口时按哪一级审核；同一退款单的两级审核不能由同一密钥完成",
    )
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True, editable=False)
    revoked_by_name = models.CharField("吊销人", max_length=150, blank=True, editable=False)
    last_used_at = models.DateTimeField("最近使用时间", null=True, blank=True, editable=False)
    created_by_name = models.CharField("创建人", max_length=150, blank=True, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "API密钥"
        verbose_name_plural = "API密钥"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["shop", "name"], name="apikey_name_unique_per_shop")]

    def __str__(self):
        return f"{self.name}（{self.shop.shop_no}，{self.lookup}…）"

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """(the key as the caller uses it, its lookup prefix, its hash)."""
        lookup = secrets.token_hex(4)
        raw = f"{KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
        return raw, lookup, hash_key(raw)

    @property
    def actor_name(self) -> str:
        """How the event log names what this key wrote."""
        return f"API：{self.name}"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at:
            return "已吊销"
        if self.expires_at and self.expires_at <= now:
            return "已过期"
        return "有效"

    def is_usable(self, now=None) -> bool:
        return self.state(now) == "有效"


class WebhookSubscription(models.Model):
    """Where a shop's changes are POSTed. The secret signs each body (HMAC-SHA256)."""

    shop = models.ForeignKey(
        Shop, on_delete=models.CASCADE, related_name="webhook_subscriptions", verbose_name="店铺"
    )
    name = models.CharField("名称", max_length=64)
    url = models.URLField("接收地址", max_length=500)
    events = models.JSONField("订阅事件", default=list, help_text="事件类型列表，见接口文档")
    secret = EncryptedTextField("签名密钥", max_length=128, help_text="用于 HMAC-SHA256 签名，接收方用它验签")
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "Webhook订阅"
        verbose_name_plural = "Webhook订阅"
        ordering = ["shop", "name"]

    def __str__(self):
        return f"{self.name}（{self.shop.shop_no}）"


class OutboxEvent(models.Model):
    """A change to tell the shop's subscribers about, written in the change's own transaction."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name="店铺")
    event_type = models.CharField("事件类型", max_length=64)
    object_id = models.PositiveBigIntegerField("对象ID")
    payload = models.JSONField("内容", default=dict)
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "事件发件箱"
        verbose_name_plural = "事件发件箱"
        ordering = ["-id"]
        indexes = [models.Index(fields=["shop", "event_type", "-id"], name="outbox_shop_type_idx")]

    def __str__(self):
        return f"{self.event_type} #{self.pk}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "待发送"
    DELIVERED = "delivered", "已送达"
    FAILED = "failed", "已放弃（多次失败）"


class WebhookDelivery(models.Model):
    """One outbox event for one subscription: retried with backoff until it is answered 2xx."""

    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name="事件"
    )
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name="订阅"
    )
    status = models.CharField(
        "状态", max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField("发送次数", default=0)
    next_attempt_at = models.DateTimeField("下次发送时间", null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField("最近响应码", null=True, blank=True)
    last_response = models.TextField("最近响应", blank=True)
    last_error = models.CharField("最近错误", max_length=500, blank=True)
    # Every attempt's answer, newest last (capped): what ops read when a receiver says it saw nothing.
    history = models.JSONField("发送记录", default=list, blank=True)
    delivered_at = models.DateTimeField("送达时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "Webhook投递"
        verbose_name_plural = "Webhook投递"
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="delivery_due_idx",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self):
        return f"{self.event.event_type} → {self.subscription.name}"


class ApiWritebackJob(models.Model):
    """Which shop's key started a background writeback job: another shop's key gets a 404 for it."""

    job = models.OneToOneField(
        "sa_sync.WritebackJob", on_delete=models.CASCADE, related_name="+", verbose_name="批量回传任务"
    )
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name="店铺")
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, verbose_name="API密钥")

    class Meta:
        verbose_name = "接口回传任务"
        verbose_name_plural = "接口回传任务"

    def __str__(self):
        return f"{self.shop.shop_no} 批量回传 #{self.job_id}"
