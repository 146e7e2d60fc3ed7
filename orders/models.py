from decimal import Decimal

from django.db import models
from django.urls import reverse
from django.utils.timezone import localtime
from django_fsm import FSMIntegerField, FSMModelMixin, transition

from core.fields import EncryptedTextField


class Platform(models.TextChoices):
    JD = "jd", "京东"


class ServiceOrderReturnSignal(models.TextChoices):
    """How 退货入仓 reaches JD for a return that is one of JD's after-sales service orders (服务单).
    Which call JD's SA reads is not public (docs/returns.md, "Open questions"): both are implemented
    behind the JD port, chosen per shop."""

    RECEIVE_REGISTER = "receive_register", "服务单收货登记（asc.receive.register）"
    WAREHOUSE_STATUS = "warehouse_status", "申请单仓库状态（refundapply.updateWarehouseStatus）"


class ArrivalRule(models.TextChoices):
    """When an audited return inbound lets the back office tell JD 退货入仓."""

    PARTIAL = "partial", "部分到货"
    FULL = "full", "全部到货"


class Shop(models.Model):
    """A merchant's JD shop and its JOS credentials.

    The secret and the tokens are write-only: forms take a new value, nothing ever shows them back,
    and `__repr__`/`__str__` never include them (they end up in logs).
    """

    platform = models.CharField("平台", max_length=16, choices=Platform.choices, default=Platform.JD)
    shop_no = models.CharField("店铺编号", max_length=64, unique=True)
    name = models.CharField("店铺名称", max_length=128)
    app_key = models.CharField("App Key", max_length=64, blank=True)
    # Encrypted at rest (core/fields.py); Python reads plain strings. max_length is the form's limit.
    app_secret = EncryptedTextField("App Secret", max_length=128, blank=True)
    access_token = EncryptedTextField("Access Token", max_length=256, blank=True)
    # Set by the admin's save: with the last 4 characters, how a user tells which secret is in use.
    app_secret_changed_at = models.DateTimeField("App Secret 修改时间", null=True, blank=True, editable=False)
    access_token_changed_at = models.DateTimeField(
        "Access Token 修改时间", null=True, blank=True, editable=False
    )
    # JD's OAuth (sa_sync.credentials): the refresh token is a secret like the access token; the
    # scheduler refreshes the access token before `access_token_expires_at` (None: not known, e.g.
    # pasted without it; with a refresh token the next scheduled refresh learns it).
    refresh_token = EncryptedTextField("Refresh Token", max_length=256, blank=True)
    refresh_token_changed_at = models.DateTimeField(
        "Refresh Token 修改时间", null=True, blank=True, editable=False
    )
    access_token_expires_at = models.DateTimeField("Access Token 到期时间", null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(
        "Refresh Token 到期时间", null=True, blank=True, editable=False
    )
    token_refreshed_at = models.DateTimeField("最近刷新授权时间", null=True, blank=True, editable=False)
    # A refresh in flight (its lease): a second one waits instead of spending the same refresh token.
    token_refresh_claimed_at = models.DateTimeField("刷新授权进行中自", null=True, blank=True, editable=False)
    # JD refused to refresh: the shop's calls stop (credential_error says why and what to do) until
    # it is authorised again; a call that still works with the old access token does not clear it.
    token_refresh_refused_at = models.DateTimeField(
        "京东拒绝刷新授权时间", null=True, blank=True, editable=False
    )
    vender_id = models.CharField("京东商家ID", max_length=64, blank=True)
    sa_writeback_enabled = models.BooleanField("启用SA回传", default=True)
    arrival_rule = models.CharField(
        "退货到货规则",
        max_length=16,
        choices=ArrivalRule.choices,
        default=ArrivalRule.FULL,
        help_text="退货入库审核后何时回传“退货入仓”：部分到货＝入库数量大于0即回传；全部到货＝入库数量达到退款数量才回传。",
    )
    service_order_return_signal = models.CharField(
        "服务单退货入仓方式",
        max_length=24,
        choices=ServiceOrderReturnSignal.choices,
        default=ServiceOrderReturnSignal.RECEIVE_REGISTER,
        help_text="京东服务单（退货）入库审核后，退货入仓告诉京东的方式：服务单收货登记（默认，公开资料中品牌对接的做法），"
        "或申请单的仓库状态。京东SA读取哪一个尚未公开，上线前请与京东确认。",
    )
    is_active = models.BooleanField("启用", default=True)
    # Set when JD refused the credentials (codes 11/12/18-21/24) or a token refresh; cleared by a
    # successful call (not after a refused refresh: see token_refresh_refused_at) or by new
    # credentials. While set, nothing is sent to JD automatically for this shop.
    credential_error = models.CharField("授权异常", max_length=300, blank=True)
    credential_error_at = models.DateTimeField("授权异常时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "店铺"
        verbose_name_plural = "店铺"
        ordering = ["shop_no"]

    def __str__(self):
        return f"{self.name}（{self.shop_no}）"

    def __repr__(self):
        return f"<Shop {self.shop_no}>"

    @property
    def has_credentials(self) -> bool:
        return bool(self.app_key and self.app_secret and self.access_token)

    def secret_summary(self, field: str) -> str:
        """What a person may know about a secret: set or not, its last 4 characters, when it changed."""
        value = getattr(self, field)
        if not value:
            return "未设置"
        # Four characters of a short value would give away too much of it.
        text = f"已设置（尾号 {value[-4:]}）" if len(value) >= 12 else "已设置"
        changed_at = getattr(self, f"{field}_changed_at")
        if changed_at:
            text += f"，{localtime(changed_at):%Y-%m-%d %H:%M} 修改"
        return text


class OrderStatus(models.IntegerChoices):
    """旺店通-style codes; the numeric order is the business order ("大于财审" means > 35)."""

    CANCELLED = 5, "已取消"
    AWAITING_PAYMENT = 10, "待付款"
    AWAITING_CS_REVIEW = 30, "待客审"
    AWAITING_FINANCE_REVIEW = 35, "待财审"
    IN_WAREHOUSE = 55, "已审核(仓库处理中)"
    SHIPPED = 95, "已发货"
    COMPLETED = 110, "已完成"


class PayType(models.TextChoices):
    ONLINE = "online", "在线支付"
    COD = "cod", "货到付款"


class Order(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="orders", verbose_name="店铺")
    tid = models.CharField("平台订单号", max_length=64)
    status = models.IntegerField(
        "订单状态", choices=OrderStatus.choices, default=OrderStatus.AWAITING_CS_REVIEW
    )
    pay_type = models.CharField("支付方式", max_length=16, choices=PayType.choices, default=PayType.ONLINE)
    buyer_nick = models.CharField("买家账号", max_length=128, blank=True)
    receiver_name = models.CharField("收件人", max_length=64, blank=True)
    receiver_mobile = models.CharField("收件人手机", max_length=32, blank=True)
    receiver_address = models.CharField("收件地址", max_length=255, blank=True)
    goods_amount = models.DecimalField("货品总额", max_digits=12, decimal_places=2, default=Decimal("0"))
    discount = models.DecimalField("优惠", max_digits=12, decimal_places=2, default=Decimal("0"))
    post_amount = models.DecimalField("运费", max_digits=12, decimal_places=2, default=Decimal("0"))
    paid = models.DecimalField("实付金额", max_digits=12, decimal_places=2, default=Decimal("0"))
    platform_status = models.CharField("平台订单状态", max_length=64, blank=True)
    trade_time = models.DateTimeField("下单时间", null=True, blank=True)
    pay_time = models.DateTimeField("付款时间", null=True, blank=True)
    platform_modified = models.DateTimeField("平台更新时间", null=True, blank=True)
    logistics_no = models.CharField("物流单号", max_length=64, blank=True)  # set by 发货
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "系统订单"
        verbose_name_plural = "系统订单"
        ordering = ["-id"]
        permissions = [
            ("review_order", "可以审核订单（客审、财审、审核）"),
            ("ship_order", "可以发货"),
        ]
        constraints = [models.UniqueConstraint(fields=["shop", "tid"], name="order_tid_unique_per_shop")]
        indexes = [
            models.Index(fields=["status", "-id"], name="order_status_idx"),
            # Serves `=` and the order list's prefix search (LIKE 'x%') on PostgreSQL.
            models.Index(fields=["tid"], name="order_tid_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["buyer_nick"], name="order_buyer_idx"),
            models.Index(fields=["trade_time"], name="order_trade_time_idx"),
        ]

    def __str__(self):
        return self.tid

    def get_absolute_url(self):
        return reverse("admin:orders_order_change", args=[self.pk])

    @property
    def is_above_finance_review(self) -> bool:
        """大于财审: the order has left the review stages (warehouse, shipped, completed)."""
        return is_above_finance_review(self.status)


def is_above_finance_review(status: int) -> bool:
    return status > OrderStatus.AWAITING_FINANCE_REVIEW


class InterceptionStatus(models.IntegerChoices):
    NONE = 0, "无需拦截"
    PENDING = 1, "拦截中(待仓库确认)"
    SUCCEEDED = 2, "拦截成功"
    FAILED = 3, "拦截失败"


class OrderLine(FSMModelMixin, models.Model):
    """子订单. `oid` (原始子单号) is unique per shop; for JD it is orderId + '-' + skuId (JD has no line id).

    Interception (拦截发货) is a state machine: 无需拦截 → 拦截中(待仓库确认) → 拦截成功 / 拦截失败, or
    straight to 拦截成功 (not yet in the warehouse) or 拦截失败 (already shipped). Every move leaves an
    event (core.audit); `orders.services` decides which move and holds the locks."""

    TRANSITION_LABELS = {
        "request_interception": "拦截发货",
        "mark_intercepted": "拦截发货",
        "mark_interception_failed": "拦截发货",
    }

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name="系统订单")
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="+", verbose_name="店铺")
    oid = models.CharField("原始子单号", max_length=96)
    goods_no = models.CharField("货品编号", max_length=64, blank=True)
    spec_no = models.CharField("规格编号(SKU)", max_length=64, blank=True)
    goods_name = models.CharField("货品名称", max_length=255)
    spec_name = models.CharField("规格名称", max_length=128, blank=True)
    num = models.PositiveIntegerField("数量", default=1)
    price = models.DecimalField("单价", max_digits=12, decimal_places=2, default=Decimal("0"))
    discount = models.DecimalField("优惠分摊", max_digits=12, decimal_places=2, default=Decimal("0"))
    paid = models.DecimalField("实付分摊", max_digits=12, decimal_places=2, default=Decimal("0"))
    is_cancelled = models.BooleanField("已取消", default=False)
    # How many of `num` an interception stops (the refunded quantity): 1 of 3 running shoes refunded
    # stops 1, the other 2 still ship. The line is cancelled only when it stops all of them.
    intercept_num = models.PositiveIntegerField("拦截数量", default=0)
    interception_status = FSMIntegerField(
        "拦截状态", choices=InterceptionStatus.choices, default=InterceptionStatus.NONE
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "子订单"
        verbose_name_plural = "子订单"
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["shop", "oid"], name="orderline_oid_unique_per_shop")]
        indexes = [
            models.Index(fields=["oid"], name="orderline_oid_idx"),
            models.Index(fields=["interception_status", "-id"], name="orderline_interception_idx"),
        ]
        permissions = [("confirm_interception", "可以确认拦截结果")]

    def __str__(self):
        return f"{self.oid} {self.goods_name}"

    def save(self, *args, **kwargs):
        # The shop is the order's; kept on the line only so (shop, oid) can be unique.
        if self.order_id and not self.shop_id:
            self.shop_id = self.order.shop_id
        super().save(*args, **kwargs)

    # --- interception: every transition takes `by` and `reason` for the event log -------------------
    @transition(field=interception_status, source=InterceptionStatus.NONE, target=InterceptionStatus.PENDING)
    def request_interception(self, by=None, reason=""):
        pass

    @transition(
        field=interception_status,
        source=[InterceptionStatus.NONE, InterceptionStatus.PENDING],
        target=InterceptionStatus.SUCCEEDED,
    )
    def mark_intercepted(self, by=None, reason=""):
        """`intercept_num` of the line never leaves the warehouse; all of it: the line is cancelled."""
        self.is_cancelled = self.intercept_num >= self.num

    @transition(
        field=interception_status,
        source=[InterceptionStatus.NONE, InterceptionStatus.PENDING],
        target=InterceptionStatus.FAILED,
    )
    def mark_interception_failed(self, by=None, reason=""):
        pass


class PendingInterception(OrderLine):
    """The warehouse's worklist: lines whose shipment must be stopped, waiting for its answer."""

    class Meta:
        proxy = True
        verbose_name = "待确认拦截"
        verbose_name_plural = "待确认拦截"


class PromotionKind(models.TextChoices):
    FULL_REDUCTION = "full_reduction", "满减"
    COUPON = "coupon", "优惠券"
    OTHER = "other", "其他"


class OrderPromotion(models.Model):
    """An order-level promotion (e.g. 满150减20) and the lines it covers.

    Kept apart from the lines' own discounts (OrderLine.discount, a single item's coupon): a refund of
    part of the order decides what an order-level promotion costs the refund (refund_slips.amounts).
    Filled by the platform sync from JD's couponDetailList (entries without a skuId) and by API pushes.
    `oids` lists the covered lines' 原始子单号; empty means every line of the order."""

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="promotions", verbose_name="系统订单"
    )
    promotion_no = models.CharField("平台优惠编号", max_length=64, blank=True)
    kind = models.CharField(
        "优惠类型", max_length=16, choices=PromotionKind.choices, default=PromotionKind.FULL_REDUCTION
    )
    name = models.CharField("优惠名称", max_length=128, blank=True)
    threshold = models.DecimalField("门槛金额（满）", max_digits=12, decimal_places=2, default=Decimal("0"))
    discount = models.DecimalField("优惠金额（减）", max_digits=12, decimal_places=2)
    oids = models.JSONField("参与优惠的子订单", default=list, blank=True)

    class Meta:
        verbose_name = "订单优惠"
        verbose_name_plural = "订单优惠"
        ordering = ["id"]

    def __str__(self):
        return self.label

    @property
    def label(self) -> str:
        if self.threshold:
            return f"{self.name or self.get_kind_display()}（满{self.threshold}减{self.discount}）"
        return f"{self.name or self.get_kind_display()}（减{self.discount}）"
