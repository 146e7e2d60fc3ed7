from django.db import models

from orders.models import Shop


class SyncKind(models.TextChoices):
    ORDERS = "orders", "订单"
    REFUNDS = "refunds", "退款单"


class SyncRunStatus(models.TextChoices):
    RUNNING = "running", "进行中"
    SUCCEEDED = "succeeded", "成功"
    FAILED = "failed", "失败"


class SyncCursor(models.Model):
    """How far a shop's data of one kind is known to be downloaded, and who is downloading now.

    `synced_until` advances only when a whole window was downloaded, so a run that fails half-way is
    simply repeated (upserts are idempotent). `running_since` is a lease: one run per shop and kind.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="sync_cursors", verbose_name="店铺")
    kind = models.CharField("同步内容", max_length=16, choices=SyncKind.choices)
    synced_until = models.DateTimeField("已同步到", null=True, blank=True)
    running_since = models.DateTimeField("当前同步开始于", null=True, blank=True)

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
    error_code = models.CharField("错误码", max_length=32, blank=True)
    error = models.CharField("错误", max_length=500, blank=True)

    class Meta:
        verbose_name = "同步记录"
        verbose_name_plural = "同步记录"
        ordering = ["-id"]
        indexes = [models.Index(fields=["shop", "kind", "-id"], name="syncrun_shop_kind_idx")]

    def __str__(self):
        return f"{self.shop} {self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration_seconds(self):
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)
