"""Busy-day scheduling: queues per kind of work, no pile-up of ticks, rules spread over their interval."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from sa_sync import tasks
from sa_sync.auto_writeback import auto_writeback_rule_save
from sa_sync.models import SyncCursor, SyncKind

from ..factories import ShopFactory

pytestmark = pytest.mark.django_db


def test_downloads_and_rule_runs_have_their_own_queues():
    from erp_aftersales.celery import app

    def queue(name):
        return app.amqp.router.route({}, name, (), {})["queue"].name

    assert queue("sa_sync.sync_shop") == "sync"
    assert queue("refunds.run_auto_writeback") == "auto_writeback"
    assert queue("refunds.run_writeback_job") == "celery"
    # A worker started without -Q consumes every declared queue.
    assert {q.name for q in app.conf.task_queues} == {"celery", "sync", "auto_writeback"}
    # On the direct exchange a routing key shared by two queues would copy every message to both.
    keys = [q.routing_key for q in app.amqp.queues.values()]
    assert len(keys) == len(set(keys)) == 3


def test_tick_queues_each_shop_once_until_its_task_has_started():
    """On a day the workers fall behind, the tick goes round the shops instead of queueing the same
    first shops again: a shop with a task still waiting, or a download running, gets no second one."""
    first, second, running = ShopFactory(), ShopFactory(), ShopFactory()
    SyncCursor.objects.create(shop=running, kind=SyncKind.REFUNDS, running_since=timezone.now())

    def tick():
        with mock.patch.object(tasks.sync_shop, "delay") as send:
            tasks.sync_all_shops()
        return sorted(call.args[:2] for call in send.call_args_list)

    everyone = [(shop.pk, kind) for shop in (first, second, running) for kind in SyncKind.values]
    assert tick() == sorted(set(everyone) - {(running.pk, SyncKind.REFUNDS)})
    # Nothing has started yet: the next tick queues nothing.
    assert tick() == []
    # The first shop's orders task starts (and finishes): only it is queued again.
    shop_sync_claim = SyncCursor.objects.get(shop=first, kind=SyncKind.ORDERS)
    from sa_sync.platform_sync import _claim

    cursor = _claim(first, SyncKind.ORDERS, timezone.now())
    assert cursor.pk == shop_sync_claim.pk
    SyncCursor.objects.filter(pk=cursor.pk).update(running_since=None)
    assert tick() == [(first.pk, SyncKind.ORDERS)]
    # A mark older than the lease is a task the broker lost: queued again.
    SyncCursor.objects.filter(shop=second).update(queued_at=timezone.now() - timedelta(hours=1))
    assert tick() == sorted((second.pk, kind) for kind in SyncKind.values)
    # A running download's lease runs out (its worker died): its shop is queued again.
    SyncCursor.objects.filter(shop=running).update(running_since=timezone.now() - timedelta(hours=1))
    assert tick() == [(running.pk, SyncKind.REFUNDS)]


def test_rules_switched_on_together_run_spread_over_their_interval_and_expire():
    shops = [ShopFactory() for _ in range(5)]
    before = timezone.now()
    for shop in shops:
        auto_writeback_rule_save(shop, {"enabled": True, "interval_minutes": 5}, by="ops")
    entries = list(PeriodicTask.objects.filter(task="refunds.run_auto_writeback"))
    assert len(entries) == 5
    assert all(entry.expire_seconds == 300 for entry in entries)
    starts = sorted(entry.last_run_at for entry in entries)
    assert all(before - timedelta(minutes=5) < start <= timezone.now() for start in starts)
    # Not one tick for all: the five first runs are at least 30 s apart (golden-ratio spread).
    assert min((b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)) >= 30

    # Changing the interval keeps the expiry in step.
    auto_writeback_rule_save(shops[0], {"interval_minutes": 10}, by="ops")
    assert PeriodicTask.objects.get(args=f"[{shops[0].pk}]").expire_seconds == 600
