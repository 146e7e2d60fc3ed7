"""What sa_sync keeps: the platform download's progress and runs, the writeback's jobs and attempts,
and the auto-writeback rules and their runs.

The writeback and auto-writeback tables kept their names (refunds_*) when their models moved here
from `refunds`: only Django's bookkeeping moved, not the data.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from orders.models import Shop
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackKind


class SyncKind(models.TextChoices):
    ORDERS = "orders", "订单"
    REFUNDS = "refunds", "退款单"
    # JD's after-sales service orders (退货/换货/维修/补发): stored as raw refund slips like refunds.
    SERVICE_ORDERS = "service_orders", "服务单"


class SyncRunStatus(models.TextChoices):
    RUNNING = "running", "进行中"
    SUCCEEDED = "succeeded", "成功"
    FAILED = "failed", "失败"


class SyncCursor(models.Model):
    """How far a shop's data of one kind is known to be downloaded, and who is downloading now.

    `synced_until` advances only when a whole window was downloaded, so a run that fails half-way is
    simply repeated (upserts are idempotent). `running_since` is a lease: one run per shop and kind.
    `queued_at`: beat's tick has a task for it waiting in the queue; the tick queues no second one,
    so on a day the workers fall behind every shop waits its turn instead of the first shops of
    each tick going again and again (sa_sync.platform_sync.syncs_to_queue).
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="sync_cursors", verbose_name="店铺")
    kind = models.CharField("同步内容", max_length=16, choices=SyncKind.choices)
    synced_until = models.DateTimeField("已同步到", null=True, blank=True)
    running_since = models.DateTimeField("当前同步开始于", null=True, blank=True)
    queued_at = models.DateTimeField("排队等待同步自", null=True, blank=True)

    class Meta:
        verbose_name = "同步进度"
        verbose_name_plural = "同步进度"
        constraints = [models.UniqueConstraint(fields=["shop", "kind"], name="synccursor_unique")]

    def __str__(self):
        return f"{self.shop} {self.get_kind_display()} 已同步到 {self.synced_until}"


class SyncRun(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="sync_runs", verbose_name="店铺")
    kind = models.CharField("同步内容", max_length=16, choices=SyncKind.choices)
    trigger = models.CharField("触发方式", max_length=32, default="定时任务")
    status = models.CharField(
        "结果", max_length=16, choices=SyncRunStatus.choices, default=SyncRunStatus.RUNNING
    )
    started_at = models.DateTimeField("开始时间", auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    window_start = models.DateTimeField("时间窗口起", null=True, blank=True)
    window_end = models.DateTimeField("时间窗口止", null=True, blank=True)
    pages = models.PositiveIntegerField("页数", default=0)
    rows_new = models.PositiveIntegerField("新增", default=0)
    rows_updated = models.PositiveIntegerField("更新", default=0)
    rows_unchanged = models.PositiveIntegerField("无变化", default=0)
    rows_rejected = models.PositiveIntegerField("异常未保存", default=0)
    rows_cut = models.PositiveIntegerField("截断后保存", default=0)
    error_code = models.CharField("错误码", max_length=32, blank=True)
    error = models.CharField("错误", max_length=500, blank=True)

    class Meta:
        verbose_name = "同步记录"
        verbose_name_plural = "同步记录"
        ordering = ["-id"]
        indexes = [models.Index(fields=["shop", "kind", "-id"], name="syncrun_shop_kind_idx")]

    def __str__(self):
        return (
            f"{self.shop} {self.get_kind_display()} {timezone.localtime(self.started_at):%Y-%m-%d %H:%M:%S}"
        )

    @property
    def duration_seconds(self):
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)


class SyncRowOutcome(models.TextChoices):
    REJECTED = "rejected", "未保存"
    CUT = "cut", "已保存（超长内容已截断）"


class SyncRejectedRow(models.Model):
    """A JD row the sync could not store as it came, with why: set aside so the rest of the shop's
    data is saved and the sync moves on, and kept for ops to see and take up with JD.

    `raw` is the row as JD sent it (JD's rows carry no credentials; secret-looking keys are blanked
    anyway). A row JD corrects later is simply downloaded again by a later run."""

    run = models.ForeignKey(
        SyncRun, on_delete=models.CASCADE, related_name="rejected_rows", verbose_name="同步记录"
    )
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name="店铺")
    kind = models.CharField("同步内容", max_length=16, choices=SyncKind.choices)
    outcome = models.CharField("处理", max_length=16, choices=SyncRowOutcome.choices)
    platform_id = models.CharField("平台单号", max_length=64, blank=True, help_text="京东的订单号或退款单号")
    reason = models.TextField("原因")
    raw = models.JSONField("京东原始数据", default=dict, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = "同步异常数据"
        verbose_name_plural = "同步异常数据"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["shop", "outcome", "-id"], name="syncrejected_shop_idx"),
            models.Index(fields=["platform_id"], name="syncrejected_platform_id_idx"),
        ]

    def __str__(self):
        return f"{self.shop} {self.get_kind_display()} {self.platform_id or '（无单号）'} {self.get_outcome_display()}"


# --- the writeback (退款回传): background jobs and every attempt ------------------------------
class WritebackTrigger(models.TextChoices):
    MANUAL = "manual", "手动回传"
    AUTO = "auto", "自动回传"
    API = "api", "接口回传"
    RETURN_INBOUND = "return_inbound", "退货入库"


class WritebackOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "回传成功"
    FAILED = "failed", "回传失败"
    REFUSED = "refused", "未发送（不满足条件）"
    SKIPPED = "skipped", "未发送（已回传/回传中）"


class WritebackJob(models.Model):
    """A large selection written back in the background, with its progress for the user."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "进行中"
        INTERRUPTED = "interrupted", "已中断"  # its worker died; the recovery sweep resumes it
        DONE = "done", "已完成"

    created_by = models.ForeignKey(
        "auth.User", null=True, on_delete=models.SET_NULL, related_name="+", verbose_name="发起人"
    )
    # Who asked when it was not a user (an API key's name): the job's writebacks are recorded as them.
    created_by_name = models.CharField("发起人名称", max_length=150, blank=True)
    trigger = models.CharField(
        "方式", max_length=16, choices=WritebackTrigger.choices, default=WritebackTrigger.MANUAL
    )
    slip_ids = models.JSONField("退款单", default=list)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField("总数", default=0)
    done = models.PositiveIntegerField("已处理", default=0)
    succeeded = models.PositiveIntegerField("成功", default=0)
    failed = models.PositiveIntegerField("失败", default=0)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    # A running job beats at every chunk; one whose beat is older than the lease lost its worker.
    heartbeat_at = models.DateTimeField("最近心跳", null=True, blank=True)
    resumed_count = models.PositiveSmallIntegerField("恢复次数", default=0)
    resumed_at = models.DateTimeField("最近恢复时间", null=True, blank=True)

    class Meta:
        db_table = "refunds_writebackjob"
        verbose_name = "批量回传任务"
        verbose_name_plural = "批量回传任务"
        ordering = ["-id"]

    def __str__(self):
        return f"批量回传 #{self.pk}（{self.done}/{self.total}）"


class WritebackAttempt(models.Model):
    """Every writeback attempt of a slip, including the ones refused before anything was sent."""

    slip = models.ForeignKey(
        RawRefund, on_delete=models.CASCADE, related_name="attempts", verbose_name="原始退款单"
    )
    job = models.ForeignKey(
        WritebackJob,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attempts",
        verbose_name="批量任务",
    )
    kind = models.CharField("回传类型", max_length=32, choices=WritebackKind.choices, blank=True)
    trigger = models.CharField("方式", max_length=16, choices=WritebackTrigger.choices)
    actor = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, verbose_name="操作人"
    )
    actor_name = models.CharField("操作人", max_length=150)
    outcome = models.CharField("结果", max_length=16, choices=WritebackOutcome.choices)
    message = models.CharField("说明", max_length=500, blank=True)
    request_summary = models.JSONField("请求摘要", default=dict, blank=True)
    response_code = models.CharField("京东返回码", max_length=64, blank=True)
    response = models.JSONField("京东返回", default=dict, blank=True)
    jos_attempts = models.PositiveSmallIntegerField("调用次数", default=0)
    duration_ms = models.PositiveIntegerField("耗时(毫秒)", default=0)
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        db_table = "refunds_writebackattempt"
        verbose_name = "回传记录"
        verbose_name_plural = "回传记录"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["slip", "-id"], name="wbattempt_slip_idx"),
            models.Index(fields=["job", "outcome"], name="wbattempt_job_idx"),
        ]

    def __str__(self):
        return f"{self.slip_id} {self.get_outcome_display()}"


# --- auto-writeback (自动回传): the per-shop rule and every run -----------------------------------
DEFAULT_REFUND_TYPES = [int(RefundType.REFUND)]
DEFAULT_PLATFORM_STATUSES = [int(PlatformStatus.APPLIED)]
# The rule's bounds, declared once: the model's validators, the settings form and its page text
# read them from the field (see `rule_bounds`).
RULE_BOUNDS = {"interval_minutes": (1, 24 * 60, "分钟"), "batch_size": (1, 1000, "条")}

FULL_WIDTH_COMMA = "，"
_SEPARATORS = re.compile(r"[,，]")


def _bounded(label: str, field: str) -> list:
    low, high, unit = RULE_BOUNDS[field]
    message = f"{label}：须在 {low} 到 {high} {unit}之间"
    return [MinValueValidator(low, message), MaxValueValidator(high, message)]


def default_refund_types():
    return list(DEFAULT_REFUND_TYPES)


def default_platform_statuses():
    return list(DEFAULT_PLATFORM_STATUSES)


def parse_reasons(text: str | None) -> tuple[list[str], list[str]]:
    """Reasons typed by hand → (normalized list, warnings for the page).

    Separators: ',' and the full-width '，' (Chinese input methods type the latter); spaces around
    an entry are dropped, empty entries and repeats too. An empty list means every reason."""
    text = text or ""
    parts = [p.strip() for p in _SEPARATORS.split(text)]
    reasons = list(dict.fromkeys(p for p in parts if p))
    warnings = []
    if FULL_WIDTH_COMMA in text:
        warnings.append("含有全角逗号“，”：已当作分隔符处理")
    if text.strip() and len([p for p in parts if p]) < len(parts):
        warnings.append("含有空项（连续的逗号，或开头/结尾的逗号）：已忽略")
    if len(reasons) < len([p for p in parts if p]):
        warnings.append("含有重复的原因：已合并")
    return reasons, warnings


class AutoWritebackRule(models.Model):
    """自动回传规则 of one shop (系统设置 → 售后设置 → 原始退款单).

    The rule picks slips; whether a slip may be written back at all is still the slip's own
    `writeback_refusal()`, checked again by the writeback service when it claims the slip."""

    shop = models.OneToOneField(
        Shop, on_delete=models.CASCADE, related_name="auto_writeback_rule", verbose_name="店铺"
    )
    enabled = models.BooleanField("开启自动回传", default=False)
    refund_types = models.JSONField("退款类型", default=default_refund_types, blank=True)
    platform_statuses = models.JSONField("平台状态", default=default_platform_statuses, blank=True)
    reasons = models.JSONField("退款原因", default=list, blank=True, help_text="为空表示不限原因")
    interval_minutes = models.PositiveIntegerField(
        "回传间隔(分钟)",
        default=5,
        validators=_bounded("回传间隔", "interval_minutes"),
    )
    batch_size = models.PositiveIntegerField(
        "每次回传条数",
        default=50,
        validators=_bounded("每次回传条数", "batch_size"),
    )
    # The beat entry that runs this rule; kept in step by sa_sync.auto_writeback.sync_schedule.
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="定时任务",
    )
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        db_table = "refunds_autowritebackrule"
        verbose_name = "售后设置：原始退款单"
        verbose_name_plural = "售后设置：原始退款单"
        ordering = ["shop__shop_no"]

    def __str__(self):
        return f"{self.shop} 自动回传规则"

    def clean(self):
        errors = {}
        types = self.refund_types if isinstance(self.refund_types, list) else None
        if not types:
            errors["refund_types"] = "退款类型：请至少选择一种"
        else:
            unknown = [t for t in types if t not in RefundType.values]
            if unknown:
                errors["refund_types"] = f"退款类型：未知的类型 {unknown}，可选 {RefundType.values}"
        statuses = self.platform_statuses if isinstance(self.platform_statuses, list) else None
        if not statuses:
            errors["platform_statuses"] = "平台状态：请至少选择一种"
        else:
            unknown = [s for s in statuses if s not in PlatformStatus.values]
            if unknown:
                errors["platform_statuses"] = f"平台状态：未知的状态 {unknown}，可选 {PlatformStatus.values}"
        if not isinstance(self.reasons, list) or not all(isinstance(r, str) and r for r in self.reasons):
            errors["reasons"] = "退款原因：应为非空文字的列表"
        if errors:
            raise ValidationError(errors)

    def reasons_text(self) -> str:
        return ",".join(self.reasons)


class AutoWritebackRun(models.Model):
    """One run of a shop's rule: what it found, sent, and why it left the rest."""

    class Status(models.TextChoices):
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        SKIPPED = "skipped", "已跳过"
        INTERRUPTED = "interrupted", "已中断"

    shop = models.ForeignKey(
        Shop, on_delete=models.CASCADE, related_name="auto_writeback_runs", verbose_name="店铺"
    )
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField("开始时间", db_index=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    # A running run holds the shop until then; a run killed mid-way is taken over after it.
    lease_until = models.DateTimeField("占用到", null=True, blank=True)
    matched = models.PositiveIntegerField("符合条件", default=0)
    sent = models.PositiveIntegerField("发送", default=0)
    succeeded = models.PositiveIntegerField("成功", default=0)
    failed = models.PositiveIntegerField("失败", default=0)
    skipped = models.JSONField("跳过（按原因）", default=dict, blank=True)
    failures = models.JSONField("失败的退款单", default=list, blank=True)
    slip_ids = models.JSONField("本次处理的退款单", default=list, blank=True)
    # Per slip the run looked at: [{slip_id, refund_no, decision, reason}], sent ones first; the
    # slip itself only keeps its latest run's verdict, so the record keeps its own.
    outcomes = models.JSONField("逐单结果", default=list, blank=True)
    started_by = models.CharField("手动运行人", max_length=150, blank=True)  # 立即运行一次; empty = 定时
    note = models.CharField("说明", max_length=300, blank=True)
    rule_snapshot = models.JSONField("当时的规则", default=dict, blank=True)

    class Meta:
        db_table = "refunds_autowritebackrun"
        verbose_name = "自动回传记录"
        verbose_name_plural = "自动回传记录"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["shop", "-started_at"], name="autowbrun_shop_started_idx")]

    def __str__(self):
        # Local time, like the page's fields (a UTC title read as eight hours off).
        return (
            f"{self.shop} {timezone.localtime(self.started_at):%Y-%m-%d %H:%M:%S} {self.get_status_display()}"
        )

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
