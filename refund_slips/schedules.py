"""The refund slips' sweep beat runs (django-celery-beat's DatabaseScheduler; ops may change its
interval). Created by a migration; re-running keeps an interval ops have changed."""

from core.schedules import ensure_interval_task

SWEEP_NAME = "退款单：按京东退款成功完成退款单（补漏）"
SWEEP_TASK = "refund_slips.sweep"  # a wire name, kept as is


def ensure_sweep_schedule(apps, schema_editor=None, every_seconds=300):
    ensure_interval_task(
        apps,
        name=SWEEP_NAME,
        task=SWEEP_TASK,
        every_seconds=every_seconds,
        description="平台同步每页保存后即完成对应退款单；此任务补上同步时处理失败的（京东退款成功→退款完成，取消退款→已取消）。",
    )
