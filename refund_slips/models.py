"""Refund slips (退款单): what the merchant owes for an after-sales case, its review and its refund.

Data, states and rules only (no I/O). The amount is computed by `amounts.quote_refund` (pure); the
verbs that create, adjust, review and complete a slip are in `services.py`.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django_fsm import FSMIntegerField, FSMModelMixin, transition

from orders.models import Order, OrderLine, Shop
from refunds.models import RawRefund
from returns.models import ReturnSlip

CENT = Decimal("0.01")


class RefundStrategy(models.TextChoices):
    """How a partial refund treats an order-level promotion (满减): docs/refund_slips.md."""

    PROPORTIONAL = "proportional", "按比例分摊"
    RECOMPUTE = "recompute", "重算优惠"


DEFAULT_RETURN_KEYWORDS = "退货,退钱,不要了,退掉"
DEFAULT_EXCHANGE_KEYWORDS = "换货,换一个,换个,换成,换码,换颜色,换尺码"
DEFAULT_REPAIR_KEYWORDS = "维修,修理,返修,保修"


class ShopRefundSettings(models.Model):
    """Per-shop refund settings (the shop's rules page): the amount strategy, the two review levels,
    and the keyword lists of the keyword check. Kept here, not on Shop, so orders/ stays below."""

    shop = models.OneToOneField(
        Shop, on_delete=models.CASCADE, related_name="refund_settings", verbose_name="店铺"
    )
    strategy = models.CharField(
        "部分退款优惠处理",
        max_length=16,
        choices=RefundStrategy.choices,
        default=RefundStrategy.PROPORTIONAL,
        help_text="按比例分摊：订单级优惠按商品金额比例分摊，退该商品分摊后的实付；"
        "重算优惠：剩余商品仍满足优惠门槛则按原价退，否则扣除优惠后退（不足扣除则不能单独退）",
    )
    level1_limit = models.DecimalField(
        "一级审核上限（元）",
        max_digits=12,
        decimal_places=2,
        default=Decimal("200.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="客服（一级审核）可单独审核通过的最高退款金额；超过该金额需财务二级审核",
    )
    level2_limit = models.DecimalField(
        "二级审核上限（元）",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="财务（二级审核）可审核通过的最高退款金额；留空表示不限；超过该金额只有管理员可以审核",
    )
    return_keywords = models.TextField(
        "退货关键词", blank=True, default=DEFAULT_RETURN_KEYWORDS, help_text="多个用逗号分隔（，或 , 均可）"
    )
    exchange_keywords = models.TextField(
        "换货关键词", blank=True, default=DEFAULT_EXCHANGE_KEYWORDS, help_text="多个用逗号分隔（，或 , 均可）"
    )
    repair_keywords = models.TextField(
        "维修关键词", blank=True, default=DEFAULT_REPAIR_KEYWORDS, help_text="多个用逗号分隔（，或 , 均可）"
    )

    class Meta:
        verbose_name = "店铺退款设置"
        verbose_name_plural = "店铺退款设置"

    def __str__(self):
        return f"{self.shop} 退款设置"


class RefundSlipStatus(models.IntegerChoices):
    PENDING_REVIEW = 10, "待审核"
    AWAITING_REFUND = 20, "待退款"
    REFUNDED = 30, "退款完成"
    REJECTED = 40, "驳回"
    CANCELLED = 50, "已取消"


# A slip in one of these holds its order lines: no second after-sales on them (退款完成 too: the case
# was settled, a second refund of the same goods is refused). 驳回 / 已取消 release them.
HOLDING_STATUSES = [
    RefundSlipStatus.PENDING_REVIEW,
    RefundSlipStatus.AWAITING_REFUND,
    RefundSlipStatus.REFUNDED,
]
OPEN_STATUSES = [RefundSlipStatus.PENDING_REVIEW, RefundSlipStatus.AWAITING_REFUND]


class RefundSource(models.TextChoices):
    RAW_REFUND = "raw_refund", "原始退款单"
    RETURN_SLIP = "return_slip", "退货单"
    MANUAL = "manual", "手工"


class RefundSlip(FSMModelMixin, models.Model):
    """退款单. `status` is protected: only the transitions below change it, each leaving an event."""

    TRANSITION_LABELS = {
        "approve": "审核通过",
        "reject": "驳回",
        "cancel": "取消",
        "mark_refunded": "确认退款完成",
        "complete_by_platform": "平台退款成功",
    }

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="refund_slips", verbose_name="店铺")
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="refund_slips", verbose_name="系统订单"
    )
    raw_refund = models.ForeignKey(
        RawRefund,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="refund_slips",
        verbose_name="原始退款单",
    )
    return_slip = models.ForeignKey(
        ReturnSlip,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="refund_slips",
        verbose_name="退货单",
    )
    source = models.CharField("来源", max_length=16, choices=RefundSource.choices)
    status = FSMIntegerField(
        "状态", choices=RefundSlipStatus.choices, default=RefundSlipStatus.PENDING_REVIEW, protected=True
    )
    reason = models.CharField("退款原因", max_length=200, blank=True, help_text="例如：超时赔付")
    whole_order = models.BooleanField("整单退款", default=False)
    strategy = models.CharField("优惠处理", max_length=16, choices=RefundStrategy.choices)
    computed_amount = models.DecimalField("计算金额", max_digits=12, decimal_places=2)
    amount = models.DecimalField("应退金额", max_digits=12, decimal_places=2)
    quote = models.TextField("金额计算过程", blank=True)
    attention = models.CharField("需关注", max_length=200, blank=True)

    levels_required = models.PositiveSmallIntegerField("需审核级数", default=1)
    level1_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="一级审核人",
    )
    level1_by_name = models.CharField("一级审核人", max_length=150, blank=True)
    level1_at = models.DateTimeField("一级审核时间", null=True, blank=True)
    level2_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="二级审核人",
    )
    level2_by_name = models.CharField("二级审核人", max_length=150, blank=True)
    level2_at = models.DateTimeField("二级审核时间", null=True, blank=True)

    refunded_at = models.DateTimeField("退款完成时间", null=True, blank=True)
    refunded_by_name = models.CharField("退款确认", max_length=150, blank=True)
    platform_refund_amount = models.DecimalField(
        "平台实退金额", max_digits=12, decimal_places=2, null=True, blank=True
    )
    amount_difference = models.CharField(
        "金额差异（待财务核对）", max_length=200, blank=True, help_text="平台实退金额与应退金额不一致"
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="创建人",
    )
    created_by_name = models.CharField("创建人", max_length=150, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "退款单"
        verbose_name_plural = "退款单"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"], name="refundslip_status_idx"),
            models.Index(fields=["shop", "-id"], name="refundslip_shop_idx"),
        ]
        permissions = [
            ("review_level1_refundslip", "可以一级审核退款单（客服）"),
            ("review_level2_refundslip", "可以二级审核退款单（财务）"),
            ("adjust_refundslip", "可以调整退款金额"),
            ("mark_refunded_refundslip", "可以确认退款完成"),
        ]

    def __str__(self):
        return self.number

    @property
    def number(self) -> str:
        return f"TK{self.pk or 0:08d}"

    @property
    def follows_platform(self) -> bool:
        """退款完成 comes from the platform's 退款成功 when the slip answers a raw refund slip (JD
        refunds it); otherwise finance (or the integration, over the API) confirms the refund."""
        return self.raw_refund_id is not None

    @property
    def awaiting_level2(self) -> bool:
        return (
            self.status == RefundSlipStatus.PENDING_REVIEW
            and self.level1_at is not None
            and self.levels_required >= 2
        )

    # --- state machine: every transition takes by= and reason= (core.audit records them) ---------
    @transition(field=status, source=RefundSlipStatus.PENDING_REVIEW, target=RefundSlipStatus.AWAITING_REFUND)
    def approve(self, by=None, reason=""):
        pass

    @transition(field=status, source=OPEN_STATUSES, target=RefundSlipStatus.REJECTED)
    def reject(self, by=None, reason=""):
        pass

    @transition(field=status, source=OPEN_STATUSES, target=RefundSlipStatus.CANCELLED)
    def cancel(self, by=None, reason=""):
        pass

    @transition(field=status, source=RefundSlipStatus.AWAITING_REFUND, target=RefundSlipStatus.REFUNDED)
    def mark_refunded(self, by=None, reason="", at=None, by_name=""):
        self.refunded_at, self.refunded_by_name = at, by_name

    @transition(field=status, source=OPEN_STATUSES, target=RefundSlipStatus.REFUNDED)
    def complete_by_platform(self, by=None, reason="", at=None, platform_amount=None):
        self.refunded_at, self.refunded_by_name = at, "京东"
        self.platform_refund_amount = platform_amount
        notes = []
        if platform_amount is not None and platform_amount != self.amount:
            notes.append(
                f"京东实退 {platform_amount} 元，退款单应退 {self.amount} 元，相差 {platform_amount - self.amount} 元"
            )
        if self.status != RefundSlipStatus.AWAITING_REFUND:
            notes.append("京东已退款时退款单尚未审核通过")
        self.amount_difference = "；".join(notes)[:200]


class RefundSlipLine(models.Model):
    refund_slip = models.ForeignKey(
        RefundSlip, on_delete=models.CASCADE, related_name="lines", verbose_name="退款单"
    )
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.PROTECT, related_name="refund_lines", verbose_name="子订单"
    )
    quantity = models.PositiveIntegerField("退款数量")
    amount = models.DecimalField("计算金额", max_digits=12, decimal_places=2, default=Decimal("0"))

    class Meta:
        verbose_name = "退款明细"
        verbose_name_plural = "退款明细"
        constraints = [
            models.UniqueConstraint(fields=["refund_slip", "order_line"], name="refundline_one_per_line"),
        ]
        indexes = [models.Index(fields=["order_line"], name="refundline_order_line_idx")]

    def __str__(self):
        return f"{self.order_line.oid} ×{self.quantity}"


class AdjustmentKind(models.TextChoices):
    COMPENSATION = "compensation", "补偿"
    FREIGHT = "freight", "运费"
    OTHER = "other", "其他调整"


class RefundAdjustment(models.Model):
    """A change CS made to the computed amount, with its reason: the computed amount and every change
    stay visible; the slip's amount is the computed amount plus these."""

    refund_slip = models.ForeignKey(
        RefundSlip, on_delete=models.CASCADE, related_name="adjustments", verbose_name="退款单"
    )
    kind = models.CharField("调整类型", max_length=16, choices=AdjustmentKind.choices)
    amount = models.DecimalField("调整金额", max_digits=12, decimal_places=2, help_text="正数加、负数减")
    reason = models.CharField("调整原因", max_length=200)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="操作人",
    )
    by_name = models.CharField("操作人", max_length=150)
    created_at = models.DateTimeField("调整时间", auto_now_add=True)

    class Meta:
        verbose_name = "退款金额调整"
        verbose_name_plural = "退款金额调整"
        ordering = ["id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount}"
