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
