"""Auto-writeback (自动回传): the per-shop rule ops configure, and the record of every run.

Imported at the bottom of refunds/models.py so Django sees these models as the refunds app's. Rules
only here; the run itself is `refunds.rules_service.run_auto_writeback`.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from orders.models import Shop

from .models import PlatformStatus, RefundType

DEFAULT_REFUND_TYPES = [int(RefundType.REFUND)]
DEFAULT_PLATFORM_STATUSES = [int(PlatformStatus.APPLIED)]
MAX_BATCH_SIZE = 1000
MAX_INTERVAL_MINUTES = 24 * 60

FULL_WIDTH_COMMA = "，"
_SEPARATORS = re.compile(r"[,，]")


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
        validators=[
            MinValueValidator(1, "回传间隔：至少 1 分钟"),
            MaxValueValidator(MAX_INTERVAL_MINUTES, f"回传间隔：最多 {MAX_INTERVAL_MINUTES} 分钟（1 天）"),
        ],
    )
    batch_size = models.PositiveIntegerField(
        "每次回传条数",
        default=50,
        validators=[
            MinValueValidator(1, f"每次回传条数：须在 1 到 {MAX_BATCH_SIZE} 之间"),
            MaxValueValidator(MAX_BATCH_SIZE, f"每次回传条数：须在 1 到 {MAX_BATCH_SIZE} 之间"),
        ],
    )
    # The beat entry that runs this rule; kept in step by rules_service.sync_schedule.
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

    # --- what the page shows ------------------------------------------------------------------
    def refund_types_display(self) -> str:
        return "、".join(str(RefundType(t).label) for t in self.refund_types if t in RefundType.values)

    def platform_statuses_display(self) -> str:
        return "、".join(
            str(PlatformStatus(s).label) for s in self.platform_statuses if s in PlatformStatus.values
        )

    def reasons_display(self) -> str:
        return "、".join(self.reasons) if self.reasons else "不限"

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
    note = models.CharField("说明", max_length=300, blank=True)
    rule_snapshot = models.JSONField("当时的规则", default=dict, blank=True)

    class Meta:
        verbose_name = "自动回传记录"
        verbose_name_plural = "自动回传记录"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["shop", "-started_at"], name="autowbrun_shop_started_idx")]

    def __str__(self):
        return f"{self.shop} {self.started_at:%Y-%m-%d %H:%M:%S} {self.get_status_display()}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values()) if isinstance(self.skipped, dict) else 0
