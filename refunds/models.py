from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import FSMIntegerField, FSMModelMixin, transition

import platforms
from orders.models import ArrivalRule, InterceptionStatus, Order, OrderLine, OrderStatus, Shop


class RefundType(models.IntegerChoices):
    REFUND = 1, "退款"
    RETURN = 2, "退货"
    EXCHANGE = 3, "换货"
    REFUND_KEEP_GOODS = 4, "退款不退货"
    # JD's service orders (服务单) after receipt: the goods are repaired, or sent again. Neither is a
    # refund, so neither is ever written back as one (`writeback_refusal`).
    REPAIR = 5, "维修"
    REISSUE = 6, "补发"


class PlatformStatus(models.IntegerChoices):
    CANCELLED = 1, "取消退款"
    APPLIED = 2, "申请退款"
    AWAITING_RETURN = 3, "等待退货"
    AWAITING_RECEIPT = 4, "等待收货"
    REFUNDED = 5, "退款成功"
    SELLER_REFUSED = 7, "卖家拒绝退款"
    # A JD service order finished without a refund: the exchange shipped, the repair returned, the
    # reissue sent. Not 退款成功: nothing was refunded.
    SERVICE_COMPLETED = 8, "售后完成"


class PlatformObject(models.TextChoices):
    """Which of the platform's after-sales objects a slip came from: a writeback goes to that object."""

    REFUND_APPLY = "refund_apply", "退款申请单"
    SERVICE_ORDER = "service_order", "服务单"


# What a slip says (需关注) when its refund covers several order lines at once: a slip is one line, so
# no line is intercepted automatically; a person stops the shipment (cancels the order) first.
MANUAL_INTERCEPTION_ATTENTION = "多个商品的退款申请，请人工拦截"


class WritebackStatus(models.IntegerChoices):
    NOT_SENT = 0, "未回传"
    SENDING = 1, "回传中"
    SUCCEEDED = 2, "回传成功"
    FAILED = 3, "回传失败"
    # Sent, but the answer was lost (a timeout after sending, a 5xx, an unreadable answer, a process
    # that died holding the claim): JD may have done it. Re-read from JD before anything else, resent
    # at most once (UNKNOWN_RESEND_LIMIT), and settled by JD's later state (docs/domain.md).
    UNKNOWN = 4, "结果未知"


class AutoDecision(models.TextChoices):
    """The last automatic-writeback run's word on a slip, so a skip has its reason on the slip."""

    SUCCEEDED = "succeeded", "已回传成功"
    FAILED = "failed", "已发送，回传失败"
    NOT_SENT = "not_sent", "未回传"


class WritebackKind(models.TextChoices):
    SHIPMENT_CANCELLED = "shipment_cancelled", "取消发货成功"
    GOODS_IN_WAREHOUSE = "goods_in_warehouse", "退货入仓"


# Why a type never carries a refund signal: said instead of the generic "无需回传" (exchanges, repairs
# and reissues arrive with their type from JD's service orders and are never written back as a refund).
NO_REFUND_SIGNAL = {
    RefundType.EXCHANGE: "换货单无需回传退款信号（换货不退款，由商家发出新货）",
    RefundType.REPAIR: "维修单无需回传退款信号（维修不退款，由商家修好寄回）",
    RefundType.REISSUE: "补发单无需回传退款信号（补发不退款，由商家补发货品）",
}

# Which writeback a slip can carry, by (type, platform status): domain.md, "Writeback kinds".
WRITEBACK_KIND_FOR = {
    (RefundType.REFUND, PlatformStatus.APPLIED): WritebackKind.SHIPMENT_CANCELLED,
    (RefundType.RETURN, PlatformStatus.AWAITING_RECEIPT): WritebackKind.GOODS_IN_WAREHOUSE,
}


def sendable_condition(kind: WritebackKind, *, arrival_rule: str | None = None) -> Q:
    """The query form of the kind's precondition in `RawRefund.writeback_refusal` (same rules).

    With `arrival_rule` given (one shop's), the condition needs no join on the shop: the
    auto-writeback's per-shop candidate query stays on the slip table's partial index."""
    # The platform's last known state acts on this kind (its state table, behind the platform
    # port); no code yet = never synced, the fresh read before sending decides. With one platform
    # the condition needs no join on the shop; with several, each platform's codes go with it.
    jd_acts = Q(platform_status_code="")
    for platform in platforms.PLATFORMS:
        acting = Q(platform_status_code__in=platforms.acting_codes(platform, kind))
        jd_acts |= acting if len(platforms.PLATFORMS) == 1 else acting & Q(shop__platform=platform)
    if kind == WritebackKind.SHIPMENT_CANCELLED:
        # Not out of the warehouse: the order is at most 待财审, or the line's interception succeeded;
        # a refund of several lines, only once a person has cancelled the order.
        return (
            jd_acts
            & Q(order__isnull=False)
            & (Q(needs_manual_interception=False) | Q(order__status=OrderStatus.CANCELLED))
            & (
                Q(order__status__lte=OrderStatus.AWAITING_FINANCE_REVIEW)
                | Q(order_line__interception_status=InterceptionStatus.SUCCEEDED)
            )
        )
    arrived_enough = Q(inbound_num__gte=F("num"))
    if arrival_rule is None:
        arrived_enough |= Q(shop__arrival_rule=ArrivalRule.PARTIAL)
    elif arrival_rule == ArrivalRule.PARTIAL:
        arrived_enough = Q()
    return jd_acts & Q(inbound_num__gt=0) & arrived_enough


class RawRefundQuerySet(models.QuerySet):
    def sendable(self):
        """Slips `writeback_refusal()` would let through now, as one query."""
        condition = Q(pk__in=[])
        for (refund_type, platform_status), kind in WRITEBACK_KIND_FOR.items():
            condition |= Q(refund_type=refund_type, platform_status=platform_status) & sendable_condition(
                kind
            )
        return self.filter(condition, shop__sa_writeback_enabled=True)


# How a message starts when a writeback was cut off by a dead process: its outcome is unknown.
INTERRUPTED = "回传中断"

# A writeback whose outcome is unknown is resent once at most: after a second unknown outcome it is
# never sent automatically again (the sweep keeps re-reading JD to settle it on a refund).
UNKNOWN_RESEND_LIMIT = 1
UNKNOWN_STOPPED = "结果仍未知，已停止自动重发，请到京东后台核对"
SETTLED_BY_REFUND = "京东已退款，上次回传视为成功"

# What a caller is told when the slip's own state stops a writeback (right-click, rule, API alike).
ALREADY_DONE = "已回传成功，无需重复回传"
IN_FLIGHT = "正在回传中（另一个操作正在处理该单），请稍后刷新查看结果"

# A slip left 回传中 longer than this was claimed by a process that died; it may be taken again
# (settings.WRITEBACK_LEASE_SECONDS; the broker's visibility timeout is set to agree with it).
WRITEBACK_LEASE = timedelta(seconds=settings.WRITEBACK_LEASE_SECONDS)


class RawRefund(FSMModelMixin, models.Model):
    """原始退款单: what the platform says the buyer asked for, plus our writeback state.

    `writeback_status` is protected: only the transitions below change it, and each one leaves an
    event (core.audit). A writeback success is not a refund: 退款成功 comes only from the
    platform (platform_status), never from our writeback.
    """

    TRANSITION_LABELS = {
        "start_writeback": "开始退款回传",
        "mark_writeback_succeeded": "退款回传成功",
        "mark_writeback_failed": "退款回传失败",
        "release_stale_claim": "回传超时重置",
        "mark_writeback_refused": "退款回传未发送（不满足条件）",
        "mark_writeback_unknown": "退款回传结果未知",
        "settle_writeback_succeeded": "京东已退款，回传视为成功",
    }

    # No index of its own: (shop, refund_no) and (shop, -id) both start with the shop.
    shop = models.ForeignKey(
        Shop, on_delete=models.PROTECT, related_name="raw_refunds", verbose_name="店铺", db_index=False
    )
    refund_no = models.CharField("平台退款单号", max_length=64)
    tid = models.CharField("平台订单号", max_length=64)
    oid = models.CharField("原始子单号", max_length=96, blank=True)
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="raw_refunds",
        verbose_name="系统订单",
    )
    order_line = models.ForeignKey(
        OrderLine,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="raw_refunds",
        verbose_name="子订单",
    )
    refund_type = models.IntegerField("退款类型", choices=RefundType.choices)
    platform_status = models.IntegerField("平台状态", choices=PlatformStatus.choices)
    platform_status_code = models.CharField("京东退款状态码", max_length=8, blank=True)
    reason = models.CharField("退款原因", max_length=128, blank=True)
    description = models.TextField("买家描述", blank=True)
    refund_amount = models.DecimalField("退款金额", max_digits=12, decimal_places=2, default=Decimal("0"))
    num = models.PositiveIntegerField("退款数量", default=1)
    buyer_nick = models.CharField("买家账号", max_length=128, blank=True)
    apply_time = models.DateTimeField("申请时间", null=True, blank=True)
    check_time = models.DateTimeField("平台审核时间", null=True, blank=True)
    platform_modified = models.DateTimeField("平台更新时间", null=True, blank=True)
    # The buyer's return parcel, as JD shows it once the buyer has shipped (等待收货): the return
    # slip takes it over so the warehouse can scan it.
    return_logistics_company = models.CharField("退回物流公司", max_length=64, blank=True)
    return_logistics_no = models.CharField("退回物流单号", max_length=64, blank=True)

    # Which platform object and id the slip came from (a JD refund application and its id, or a
    # service order and its service id): the writeback goes to that object.
    platform_object = models.CharField(
        "平台单据类型", max_length=16, choices=PlatformObject.choices, default=PlatformObject.REFUND_APPLY
    )
    platform_id = models.CharField("平台单据号", max_length=64, blank=True)
    # The refund covers several order lines (JD's 取消订单 of several goods): no automatic
    # interception, and 取消发货成功 only once the order is cancelled.
    needs_manual_interception = models.BooleanField("需人工拦截", default=False)
    attention = models.CharField("需关注", max_length=200, blank=True, help_text="例如：拦截失败：订单已发货")
    inbound_num = models.PositiveIntegerField("退货入库数量", default=0)
    # Set by the shop's keyword check (refund_slips.keywords): the buyer's words say another type than
    # the one asked for (描述像换货，类型为退货). Kept apart from `attention` (interception): each has
    # its own writer and is recomputed on its own.
    keyword_warning = models.CharField("关键词预警", max_length=200, blank=True)

    writeback_status = FSMIntegerField(
        "退款回传状态", choices=WritebackStatus.choices, default=WritebackStatus.NOT_SENT, protected=True
    )
    writeback_message = models.CharField("回传结果", max_length=500, blank=True)
    writeback_attempts = models.PositiveIntegerField("回传次数", default=0)
    writeback_claimed_at = models.DateTimeField("回传开始时间", null=True, blank=True)
    last_writeback_at = models.DateTimeField("最近回传时间", null=True, blank=True)
    next_attempt_at = models.DateTimeField("下次重试时间", null=True, blank=True)
    # Outcomes lost in a row (结果未知) since the last known one: 1 allows the one resend, 2 stops it.
    writeback_unknown_count = models.PositiveSmallIntegerField("结果未知次数", default=0)

    # Written by each auto-writeback run for the slips it selected, sent or refused (sa_sync).
    # The run is kept by id: refunds sits below sa_sync, where the run lives.
    auto_decision = models.CharField("自动回传结果", max_length=16, choices=AutoDecision.choices, blank=True)
    auto_decision_reason = models.CharField("自动回传原因", max_length=500, blank=True)
    auto_decision_at = models.DateTimeField("自动回传判断时间", null=True, blank=True)
    auto_decision_run_id = models.PositiveBigIntegerField("自动回传运行编号", null=True, blank=True)

    created_at = models.DateTimeField("下载时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = RawRefundQuerySet.as_manager()

    class Meta:
        verbose_name = "原始退款单"
        verbose_name_plural = "原始退款单"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "refund_no"], name="rawrefund_no_unique_per_shop")
        ]
        indexes = [
            # Pattern-ops btrees serve both `=` and the list's prefix search (LIKE 'x%') on
            # PostgreSQL; they replace the plain ones, so writes maintain no extra index.
            models.Index(
                fields=["refund_no"], name="rawrefund_refund_no_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["tid"], name="rawrefund_tid_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["oid"], name="rawrefund_oid_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["buyer_nick"], name="rawrefund_buyer_idx"),
            models.Index(fields=["writeback_status", "-id"], name="rawrefund_wb_status_idx"),
            models.Index(fields=["platform_status", "-id"], name="rawrefund_pf_status_idx"),
            models.Index(fields=["refund_type", "-id"], name="rawrefund_type_idx"),
            # The two writeback kinds are (type, platform status) pairs: CS filter on both at once.
            models.Index(fields=["refund_type", "platform_status", "-id"], name="rawrefund_type_pf_idx"),
            models.Index(fields=["reason", "-id"], name="rawrefund_reason_idx"),
            models.Index(fields=["shop", "-id"], name="rawrefund_shop_idx"),
            models.Index(fields=["apply_time"], name="rawrefund_apply_time_idx"),
            models.Index(fields=["created_at"], name="rawrefund_created_idx"),
            # The 自动回传 filter: only slips a run has judged, so a downloaded slip (always blank
            # here) costs this index nothing.
            models.Index(
                fields=["auto_decision", "-id"],
                name="rawrefund_auto_decision_idx",
                condition=~models.Q(auto_decision=""),
            ),
            # The auto-writeback's candidates: open slips only, so its cost does not grow with the
            # slips already written back (sa_sync/selectors.py).
            models.Index(
                fields=["shop", "writeback_status", "refund_type", "platform_status", "id"],
                name="rawrefund_autowb_cand_idx",
                condition=models.Q(writeback_status__in=[0, 1, 3]),
            ),
        ]
        permissions = [("writeback_rawrefund", "可以退款回传")]

    def __str__(self):
        return self.refund_no

    # --- rules ---------------------------------------------------------------------------------
    # "May this slip be written back" has two forms that must agree: `writeback_refusal()` for one
    # slip, in words, and `RawRefundQuerySet.sendable()` / `sendable_condition()` for the query the
    # auto-writeback and its preview select with. Change both together (tests/test_sendable.py).
    @property
    def writeback_kind(self) -> WritebackKind | None:
        return WRITEBACK_KIND_FOR.get((self.refund_type, self.platform_status))

    def platform_state_refusal(self, kind: WritebackKind) -> str | None:
        """Why the platform's last known state of this after-sales (sync or the fresh read) stops a
        writeback of `kind`; None when it acts on it or the state was never read."""
        return platforms.state_refusal(self.shop.platform, self.platform_status_code, kind, kind.label)

    def has_writeback_kind(self) -> bool:
        return self.writeback_kind is not None

    def writeback_refusal(self) -> str | None:
        """Why this slip must not be written back now, in words CS read; None when it may.

        Nothing false ever reaches JD: 取消发货成功 only when the refunded line did not leave the
        warehouse, 退货入仓 only when the arrival rule is met (docs/domain.md, "Writeback kinds")."""
        kind = self.writeback_kind
        if kind is None and self.refund_type in NO_REFUND_SIGNAL:
            return NO_REFUND_SIGNAL[self.refund_type]
        if kind is None:
            return (
                f"该退款单无需回传：{self.get_refund_type_display()}/{self.get_platform_status_display()}"
                "（仅“退款+申请退款”回传取消发货成功，“退货+等待收货”回传退货入仓）"
            )
        if not self.shop.sa_writeback_enabled:
            return "店铺未启用SA回传，请运营在店铺设置中开启"
        # The platform's word on its own after-sales comes before the ERP's view (e.g. JD's 青龙拦截失败
        # beats 待客审).
        platform_refusal = self.platform_state_refusal(kind)
        if platform_refusal:
            return platform_refusal
        if kind == WritebackKind.SHIPMENT_CANCELLED:
            return self._shipment_cancelled_refusal()
        return self._goods_in_warehouse_refusal()

    def _shipment_cancelled_refusal(self) -> str | None:
        if self.order_id is None:
            return "未找到对应的系统订单，无法确认是否已发货，请先同步订单"
        if self.needs_manual_interception and self.order.status != OrderStatus.CANCELLED:
            return "多个商品的退款申请，需人工拦截：请先取消订单，再回传取消发货成功"
        line = self.order_line
        if line is not None and line.interception_status == InterceptionStatus.SUCCEEDED:
            return None
        status = self.order.status
        if status <= OrderStatus.AWAITING_FINANCE_REVIEW:
            return None
        if status >= OrderStatus.SHIPPED:
            return "订单已发货，无法回传取消发货成功"
        if line is not None and line.interception_status == InterceptionStatus.PENDING:
            return "拦截中，待仓库确认拦截成功后再回传"
        if line is not None and line.interception_status == InterceptionStatus.FAILED:
            return "拦截失败，货品已出库，无法回传取消发货成功"
        return "订单已进入仓库处理，拦截未确认成功，无法回传取消发货成功"

    def _goods_in_warehouse_refusal(self) -> str | None:
        if self.inbound_num <= 0:
            return "退货尚未入库，无法回传退货入仓"
        if self.shop.arrival_rule == ArrivalRule.FULL and self.inbound_num < self.num:
            return f"退货未全部到货（已入库 {self.inbound_num}/{self.num}，到货规则：全部到货）"
        return None

    def claim_expired(self, now=None) -> bool:
        now = now or timezone.now()
        return self.writeback_claimed_at is None or self.writeback_claimed_at + WRITEBACK_LEASE <= now

    # --- writeback state machine -------------------------------------------------------------
    # Every transition takes `by` (user or system actor name) and `reason`: the audit handler
    # writes them into the event log.
    @transition(
        field=writeback_status,
        source=[WritebackStatus.NOT_SENT, WritebackStatus.FAILED, WritebackStatus.UNKNOWN],
        target=WritebackStatus.SENDING,
        conditions=[has_writeback_kind],
    )
    def start_writeback(self, by=None, reason=""):
        self.writeback_claimed_at = timezone.now()
        self.writeback_attempts += 1

    @transition(field=writeback_status, source=WritebackStatus.SENDING, target=WritebackStatus.SUCCEEDED)
    def mark_writeback_succeeded(self, by=None, reason=""):
        self.writeback_message = reason or "操作成功"
        self.last_writeback_at = timezone.now()
        self.writeback_claimed_at = None
        self.next_attempt_at = None
        self.writeback_unknown_count = 0

    @transition(field=writeback_status, source=WritebackStatus.SENDING, target=WritebackStatus.FAILED)
    def mark_writeback_failed(self, by=None, reason="", next_attempt_at=None):
        self.writeback_message = reason[:500]
        self.last_writeback_at = timezone.now()
        self.writeback_claimed_at = None
        self.next_attempt_at = next_attempt_at
        self.writeback_unknown_count = 0

    @transition(field=writeback_status, source=WritebackStatus.SENDING, target=WritebackStatus.UNKNOWN)
    def mark_writeback_unknown(self, by=None, reason="", next_attempt_at=None):
        """Sent, answer lost: JD may have done it. `next_attempt_at` is when JD is read again."""
        self.writeback_message = reason[:500]
        self.last_writeback_at = timezone.now()
        self.writeback_claimed_at = None
        self.next_attempt_at = next_attempt_at
        self.writeback_unknown_count += 1

    @transition(field=writeback_status, source=WritebackStatus.UNKNOWN, target=WritebackStatus.SUCCEEDED)
    def settle_writeback_succeeded(self, by=None, reason=SETTLED_BY_REFUND):
        """JD refunded after a writeback whose answer was lost: it is taken as having arrived."""
        self.writeback_message = reason[:500]
        self.last_writeback_at = timezone.now()
        self.next_attempt_at = None
        self.writeback_unknown_count = 0

    def unknown_resends_left(self) -> bool:
        return self.writeback_unknown_count <= UNKNOWN_RESEND_LIMIT

    def refuse_writeback(self, by=None, reason="", now=None):
        """A writeback asked for but not sent (its precondition failed): the slip shows 回传失败 with
        the reason, like a failed send, and stays retryable: due at once, so a rule sends it as soon
        as the cause goes away (its sendable query keeps it out until then), and a click re-checks."""
        if self.writeback_status != WritebackStatus.FAILED:
            self.mark_writeback_refused(by=by, reason=reason)
        self.writeback_message = reason[:500]
        self.last_writeback_at = now or timezone.now()
        self.next_attempt_at = self.last_writeback_at

    @transition(
        field=writeback_status,
        source=[WritebackStatus.NOT_SENT, WritebackStatus.UNKNOWN],
        target=WritebackStatus.FAILED,
    )
    def mark_writeback_refused(self, by=None, reason=""):
        pass

    @transition(
        field=writeback_status,
        source=WritebackStatus.SENDING,
        target=WritebackStatus.UNKNOWN,
        conditions=[claim_expired],
    )
    def release_stale_claim(
        self, by=None, reason=f"{INTERRUPTED}（处理进程退出），结果未知", next_attempt_at=None
    ):
        """A claim whose process died (after sending, perhaps): its outcome is unknown, like a lost
        answer, and the same rules follow (JD read first, at most one resend, `next_attempt_at`)."""
        self.writeback_message = reason[:500]
        self.writeback_claimed_at = None
        self.next_attempt_at = next_attempt_at
        self.writeback_unknown_count += 1
