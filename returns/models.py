"""Return slips (退货单) and their inbound (退货入库单): data, states and the rules; no I/O.

A return slip asks the warehouse to take back some quantity of an order's lines; one order can have
many, and one line can be spread over several. The warehouse records what arrived (good / damaged)
and audits it; the audit's good quantity, summed per line over every return slip, is what the raw
refund slip's 退货入仓 writeback is decided on (returns/services.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_fsm import FSMIntegerField, FSMModelMixin, transition

from orders.models import Order, OrderLine, Shop
from refunds.models import RawRefund

# Return slips left 待入库 longer than this are flagged for CS (per shop: ShopReturnSettings).
DEFAULT_INBOUND_TIME_LIMIT_DAYS = 14


class ReturnStatus(models.IntegerChoices):
    PENDING_REVIEW = 10, "待审核"
    AWAITING_INBOUND = 20, "待入库"
    AWAITING_CS = 25, "待客服确认"
    INBOUND_DONE = 30, "入库完成"
    REJECTED = 40, "驳回"
    CANCELLED = 50, "已取消"


# A slip in one of these states holds its quantity against the order line: a second return slip can
# only ask for what is left. 入库完成 holds it too (those goods came back); 驳回 / 已取消 release it.
HOLDING_STATUSES = [
    ReturnStatus.PENDING_REVIEW,
    ReturnStatus.AWAITING_INBOUND,
    ReturnStatus.AWAITING_CS,
    ReturnStatus.INBOUND_DONE,
]


class ShopReturnSettings(models.Model):
    """Per-shop returns settings. Kept in returns (not on Shop) so the returns knobs have one home and
    orders/ stays below returns in the layers."""

    shop = models.OneToOneField(
        Shop, on_delete=models.CASCADE, related_name="return_settings", verbose_name="店铺"
    )
    auto_create_from_refunds = models.BooleanField(
        "退货原始退款单自动建退货单",
        default=False,
        help_text="开启后，该店铺下载到的“退货”原始退款单会自动生成退货单（已审核，待入库）",
    )
    inbound_time_limit_days = models.PositiveIntegerField(
        "待入库时限（天）",
        default=DEFAULT_INBOUND_TIME_LIMIT_DAYS,
        help_text="退货单审核后超过该天数仍未入库，标记为“超时未入库”提醒客服跟进（不会自动关闭）",
    )

    class Meta:
        verbose_name = "店铺退货设置"
        verbose_name_plural = "店铺退货设置"

    def __str__(self):
        return f"{self.shop} 退货设置"


class ReturnSlip(FSMModelMixin, models.Model):
    """退货单. `status` is protected: only the transitions below change it, each leaving an event."""

    TRANSITION_LABELS = {
        "approve": "审核通过",
        "reject": "驳回",
        "cancel": "取消",
        "complete_inbound": "入库审核",
        "send_to_cs": "实收与申请不符，转客服确认",
        "accept_received": "客服按实收确认",
    }

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="return_slips", verbose_name="店铺")
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="return_slips", verbose_name="系统订单"
    )
    raw_refund = models.ForeignKey(
        RawRefund,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="return_slips",
        verbose_name="原始退款单",
    )
    status = FSMIntegerField(
        "状态", choices=ReturnStatus.choices, default=ReturnStatus.PENDING_REVIEW, protected=True
    )
    logistics_company = models.CharField("物流公司", max_length=64, blank=True)
    logistics_no = models.CharField("物流单号", max_length=64, blank=True, db_index=True)
    remark = models.CharField("备注", max_length=300, blank=True)
    cs_message = models.CharField(
        "待客服处理", max_length=500, blank=True, help_text="例如：实收与申请不符（申请 2，实收 1）"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="创建人",
    )
    created_by_name = models.CharField("创建人名称", max_length=150, blank=True)
    approved_at = models.DateTimeField("审核时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "退货单"
        verbose_name_plural = "退货单"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "approved_at"], name="returnslip_status_idx"),
            models.Index(fields=["shop", "-id"], name="returnslip_shop_idx"),
        ]
        permissions = [("review_returnslip", "可以审核退货单")]

    def __str__(self):
        return self.number

    @property
    def number(self) -> str:
        return f"TH{self.pk or 0:08d}"

    # --- state machine: every transition takes by= and reason= (core.audit records them) ---------
    @transition(field=status, source=ReturnStatus.PENDING_REVIEW, target=ReturnStatus.AWAITING_INBOUND)
    def approve(self, by=None, reason="", at=None):
        self.approved_at = at

    @transition(
        field=status,
        source=[ReturnStatus.PENDING_REVIEW, ReturnStatus.AWAITING_INBOUND],
        target=ReturnStatus.REJECTED,
    )
    def reject(self, by=None, reason=""):
        pass

    @transition(
        field=status,
        source=[ReturnStatus.PENDING_REVIEW, ReturnStatus.AWAITING_INBOUND, ReturnStatus.AWAITING_CS],
        target=ReturnStatus.CANCELLED,
    )
    def cancel(self, by=None, reason=""):
        pass

    @transition(field=status, source=ReturnStatus.AWAITING_INBOUND, target=ReturnStatus.INBOUND_DONE)
    def complete_inbound(self, by=None, reason=""):
        self.cs_message = ""

    @transition(field=status, source=ReturnStatus.AWAITING_INBOUND, target=ReturnStatus.AWAITING_CS)
    def send_to_cs(self, by=None, reason=""):
        self.cs_message = reason[:500]

    @transition(field=status, source=ReturnStatus.AWAITING_CS, target=ReturnStatus.INBOUND_DONE)
    def accept_received(self, by=None, reason=""):
        self.cs_message = ""


class ReturnLine(models.Model):
    return_slip = models.ForeignKey(
        ReturnSlip, on_delete=models.CASCADE, related_name="lines", verbose_name="退货单"
    )
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.PROTECT, related_name="return_lines", verbose_name="子订单"
    )
    quantity = models.PositiveIntegerField("退货数量")

    class Meta:
        verbose_name = "退货明细"
        verbose_name_plural = "退货明细"
        constraints = [
            models.UniqueConstraint(fields=["return_slip", "order_line"], name="returnline_one_per_line"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="returnline_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.order_line.oid} ×{self.quantity}"


class ReturnInbound(models.Model):
    """退货入库单: what the warehouse received for one return slip. Audited once, never again."""

    return_slip = models.OneToOneField(
        ReturnSlip, on_delete=models.CASCADE, related_name="inbound", verbose_name="退货单"
    )
    audited = models.BooleanField("已审核", default=False)
    audited_at = models.DateTimeField("审核时间", null=True, blank=True)
    audited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="审核人",
    )
    audited_by_name = models.CharField("审核人名称", max_length=150, blank=True)
    recorded_by_name = models.CharField("登记人", max_length=150, blank=True)
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "退货入库单"
        verbose_name_plural = "退货入库单"
        permissions = [("audit_returninbound", "可以入库审核")]

    def __str__(self):
        return f"{self.return_slip.number} 入库"


class InboundLine(models.Model):
    inbound = models.ForeignKey(
        ReturnInbound, on_delete=models.CASCADE, related_name="lines", verbose_name="入库单"
    )
    return_line = models.OneToOneField(
        ReturnLine, on_delete=models.CASCADE, related_name="inbound_line", verbose_name="退货明细"
    )
    good_quantity = models.PositiveIntegerField("良品数量", default=0)
    damaged_quantity = models.PositiveIntegerField("残次数量", default=0)

    class Meta:
        verbose_name = "入库明细"
        verbose_name_plural = "入库明细"

    def __str__(self):
        return f"良品 {self.good_quantity} 残次 {self.damaged_quantity}"

    @property
    def received(self) -> int:
        return self.good_quantity + self.damaged_quantity
