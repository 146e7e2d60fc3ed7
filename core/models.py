from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Event(models.Model):
    """One row per state change of anything users care about: who, when, what, from, to, why.

    Generic on purpose: slips, orders, lines, shops and rules all answer "who did this" the same way.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, verbose_name="对象类型")
    object_id = models.PositiveBigIntegerField("对象ID")
    subject = GenericForeignKey("content_type", "object_id")
    action = models.CharField("操作", max_length=64)
    field = models.CharField("字段", max_length=64, blank=True)
    # Text, not varchar: a state can be a list the user typed (a rule's reasons: all ten standard
    # ones joined are 68 characters, and ops may add their own), so no length is "long enough".
    from_state = models.TextField("原状态", blank=True)
    to_state = models.TextField("新状态", blank=True)
    reason = models.TextField("原因/说明", blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name="操作人"
    )
    actor_name = models.CharField("操作人", max_length=150, help_text="用户名，或“系统：…”表示自动任务")
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        db_table = "erp_aftersales_event"  # kept from before the event log moved to core
        verbose_name = "操作日志"
        verbose_name_plural = "操作日志"
        ordering = ["-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-id"], name="event_subject_idx")]

    def __str__(self):
        return f"{self.actor_name} {self.action} {self.from_state}→{self.to_state}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "排队中"
    RUNNING = "running", "导出中"
    DONE = "done", "已完成"
    FAILED = "failed", "失败"


class ExportJob(models.Model):
    """A list exported to Excel in the background (past EXPORT_BACKGROUND_OVER rows): the filter it
    was asked with, its progress, and the file once written. Only its owner (or the administrator)
    may download the file."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, verbose_name="导出人")
    model_label = models.CharField("列表", max_length=100)  # app_label.ModelName
    list_title = models.CharField("列表名称", max_length=100)
    query = models.TextField("筛选条件", blank=True)  # the list's query string, as the user had it
    status = models.CharField(
        "状态", max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    total = models.PositiveIntegerField("总行数", default=0)
    done = models.PositiveIntegerField("已导出", default=0)
    file_name = models.CharField("文件", max_length=200, blank=True)
    error = models.TextField("错误", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "导出任务"
        verbose_name_plural = "导出任务"
        ordering = ["-id"]

    def __str__(self):
        return f"导出 #{self.pk} {self.list_title}（{self.done}/{self.total}）"
