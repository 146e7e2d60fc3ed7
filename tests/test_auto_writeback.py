"""Auto-writeback (issue 5): rules, selection, runs, the settings page — real database, the SA sandbox
over real HTTP (its call list is the proof of what was sent)."""

import itertools
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.audit import events_for
from orders.models import InterceptionStatus, OrderStatus
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from refunds.services import raw_refund_confirm_interception, raw_refund_intercept
from sa_sync import auto_writeback, selectors
from sa_sync.models import AutoWritebackRule, AutoWritebackRun, WritebackTrigger, parse_reasons
from sa_sync.writeback import refund_writeback

from .conftest import make_user
from .factories import OrderFactory, OrderLineFactory, RawRefundFactory, ShopFactory

WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
SETTINGS_URL = "/admin/sa_sync/autowritebackrule/"
_numbers = itertools.count(1)


# --- helpers ------------------------------------------------------------------------------------
@pytest.fixture
def aw(jd, settings):
    """A shop both sides know (conftest's `jd`); JOS client retries off (what is tested is the run,
    not the client)."""
    settings.JOS_MAX_RETRIES = 0
    return jd


def make_slip(
    shop,
    *,
    order_status=OrderStatus.AWAITING_CS_REVIEW,
    interception=InterceptionStatus.NONE,
    refund_type=RefundType.REFUND,
    platform_status=PlatformStatus.APPLIED,
    reason="不想要了",
    **state,
):
    """A slip with its order and line; `state`: writeback fields set directly (as a past run left them)."""
    n = next(_numbers)
    order = OrderFactory(shop=shop, tid=str(810000000000 + n), status=order_status)
    line = OrderLineFactory(order=order, shop=shop, interception_status=interception)
    slip = RawRefundFactory(
        order_line=line,
        refund_no=str(7000000000 + n),
        refund_type=refund_type,
        platform_status=platform_status,
        reason=reason,
    )
    if state:
        RawRefund.objects.filter(pk=slip.pk).update(**state)
        slip.refresh_from_db()
    return slip


def seed(sandbox, shop):
    """JD knows every slip of the shop (the writeback of an unknown refId is refused)."""
    refunds = [
        {"id": int(s.refund_no), "orderId": int(s.tid), "status": 0}
        for s in RawRefund.objects.filter(shop=shop)
    ]
    sandbox.seed_refunds(shop.app_key, refunds)


def sent_ref_ids(sandbox, shop):
    return [str(c["params"]["refId"]) for c in sandbox.calls(method=WRITEBACK, app_key=shop.app_key)]


def enable(shop, **values):
    rule, _ = auto_writeback.auto_writeback_rule_save(shop, {"enabled": True, **values}, by="测试")
    return rule


def ids(slips):
    return {s.pk for s in slips}


# --- selection ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_default_conditions_select_exactly_the_right_slips(sandbox, aw):
    now = timezone.now()
    yes = [
        make_slip(aw),  # 待客审
        make_slip(aw, order_status=OrderStatus.AWAITING_FINANCE_REVIEW),
        make_slip(aw, order_status=OrderStatus.CANCELLED),
        make_slip(aw, order_status=OrderStatus.SHIPPED, interception=InterceptionStatus.SUCCEEDED),
        make_slip(  # retryable failure, due, within budget
            aw,
            writeback_status=WritebackStatus.FAILED,
            writeback_attempts=1,
            next_attempt_at=now - timedelta(minutes=1),
        ),
    ]
    above = make_slip(aw, order_status=OrderStatus.IN_WAREHOUSE)
    pending = make_slip(aw, order_status=OrderStatus.IN_WAREHOUSE, interception=InterceptionStatus.PENDING)
    done = make_slip(aw, writeback_status=WritebackStatus.SUCCEEDED)
    in_flight = make_slip(aw, writeback_status=WritebackStatus.SENDING, writeback_claimed_at=now)
    hopeless = make_slip(aw, writeback_status=WritebackStatus.FAILED, writeback_attempts=1)  # not retryable
    waiting = make_slip(
        aw,
        writeback_status=WritebackStatus.FAILED,
        writeback_attempts=1,
        next_attempt_at=now + timedelta(hours=1),
    )
    make_slip(
        aw, refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RECEIPT, inbound_num=1
    )
    make_slip(aw, platform_status=PlatformStatus.AWAITING_RETURN)
    make_slip(aw, refund_type=RefundType.EXCHANGE)
    make_slip(ShopFactory())  # another shop's
    seed(sandbox, aw)
    rule = enable(aw)

    assert ids(selectors.select_candidates(rule).slips) == ids(yes)
    groups = {s.pk: g for s, g, _ in auto_writeback.auto_writeback_preview(rule).excluded}
    assert groups[above.pk] == groups[pending.pk] == "订单状态大于财审"
    assert groups[done.pk] == "已回传"
    assert groups[in_flight.pk] == "回传中"
    assert groups[hopeless.pk] == "回传失败且不可自动重试"
    assert groups[waiting.pk] == "等待重试"

    run = auto_writeback.auto_writeback_run(aw.pk)
    assert sorted(sent_ref_ids(sandbox, aw)) == sorted(s.refund_no for s in yes)
    assert (run.status, run.matched, run.sent, run.succeeded, run.failed) == ("done", 5, 5, 5, 0)
    assert run.skipped["订单状态大于财审"] == 2 and run.skipped["等待重试"] == 1
    assert set(RawRefund.objects.filter(pk__in=ids(yes)).values_list("writeback_status", flat=True)) == {
        WritebackStatus.SUCCEEDED
    }
    attempt = RawRefund.objects.get(pk=yes[0].pk).attempts.get()
    assert attempt.trigger == WritebackTrigger.AUTO and attempt.actor_name == "系统：自动回传"


@pytest.mark.parametrize(
    "typed, parsed, warned, selected",
    [
        ("", [], False, {"不想要了", "拍错/多拍", "商品质量问题", ""}),
        ("不想要了", ["不想要了"], False, {"不想要了"}),
        ("不想要了,拍错/多拍", ["不想要了", "拍错/多拍"], False, {"不想要了", "拍错/多拍"}),
        ("不想要了，拍错/多拍", ["不想要了", "拍错/多拍"], True, {"不想要了", "拍错/多拍"}),
        ("  不想要了 ,  商品质量问题 ,, ", ["不想要了", "商品质量问题"], True, {"不想要了", "商品质量问题"}),
        ("没有这个原因", ["没有这个原因"], False, set()),
    ],
)
@pytest.mark.django_db
def test_reasons(typed, parsed, warned, selected):
    shop = ShopFactory()
    for reason in ["不想要了", "拍错/多拍", "商品质量问题", ""]:
        make_slip(shop, reason=reason)
    got, warnings = parse_reasons(typed)
    assert got == parsed
    assert bool(warnings) == warned
    rule = enable(shop, reasons=got)
    assert {s.reason for s in selectors.select_candidates(rule).slips} == selected
    excluded = {
        s.reason for s, g, _ in auto_writeback.auto_writeback_preview(rule).excluded if g == "原因不匹配"
    }
    assert excluded == {"不想要了", "拍错/多拍", "商品质量问题", ""} - selected


def test_full_width_comma_and_empty_entry_warnings_are_worded():
    _, warnings = parse_reasons("不想要了，，拍错/多拍,")
    assert any("全角逗号" in w for w in warnings) and any("空项" in w for w in warnings)


@pytest.mark.django_db
def test_order_above_finance_review_waits_for_a_confirmed_interception(sandbox, aw):
    slip = make_slip(aw, order_status=OrderStatus.IN_WAREHOUSE)
    seed(sandbox, aw)
    enable(aw)
    run = auto_writeback.auto_writeback_run(aw.pk)
    assert run.sent == 0 and run.skipped == {"订单状态大于财审": 1}
    assert sent_ref_ids(sandbox, aw) == []

    raw_refund_intercept([slip.pk])  # 55: the warehouse must confirm
    raw_refund_confirm_interception(slip.order_line_id, succeeded=True, by="仓库")
    run = auto_writeback.auto_writeback_run(aw.pk)
    assert run.sent == run.succeeded == 1
    assert sent_ref_ids(sandbox, aw) == [slip.refund_no]


@pytest.mark.django_db
def test_batch_size_is_honoured_and_the_rest_goes_in_the_next_run(sandbox, aw):
    slips = [make_slip(aw) for _ in range(7)]
    seed(sandbox, aw)
    enable(aw, batch_size=3)

    first = auto_writeback.auto_writeback_run(aw.pk)
    assert sorted(sent_ref_ids(sandbox, aw)) == [s.refund_no for s in slips[:3]]  # oldest first
    assert (first.matched, first.sent) == (7, 3) and first.skipped["超出每次条数，下次回传"] == 4
    auto_writeback.auto_writeback_run(aw.pk)
    third = auto_writeback.auto_writeback_run(aw.pk)
    assert sorted(sent_ref_ids(sandbox, aw)) == sorted(s.refund_no for s in slips)
    assert (third.matched, third.sent) == (1, 1)
    assert auto_writeback.auto_writeback_run(aw.pk).sent == 0
    assert len(sent_ref_ids(sandbox, aw)) == 7


@pytest.mark.django_db
def test_retry_backoff_then_retry_then_budget(sandbox, aw, settings):
    slip = make_slip(aw)
    seed(sandbox, aw)
    enable(aw)
    sandbox.set_faults(app_key=aw.app_key, fail_next=[{"kind": "jos", "code": "2", "method": WRITEBACK}])

    run = auto_writeback.auto_writeback_run(aw.pk)
    slip.refresh_from_db()
    assert (run.sent, run.failed) == (1, 1) and run.failures[0]["refund_no"] == slip.refund_no
    assert run.failures[0]["message"]
    assert slip.writeback_status == WritebackStatus.FAILED and slip.next_attempt_at > timezone.now()

    # Backoff: the next tick does not send it.
    run = auto_writeback.auto_writeback_run(aw.pk)
    assert run.sent == 0 and run.skipped == {"等待重试": 1}
    assert len(sent_ref_ids(sandbox, aw)) == 1

    # Due: sent again, succeeds.
    RawRefund.objects.filter(pk=slip.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    run = auto_writeback.auto_writeback_run(aw.pk)
    assert (run.sent, run.succeeded) == (1, 1)
    assert sent_ref_ids(sandbox, aw) == [slip.refund_no] * 2

    # Budget: a slip that failed as often as the budget allows waits for a person.
    settings.AUTO_WRITEBACK_RETRY_BUDGET = 3
    spent = make_slip(
        aw,
        writeback_status=WritebackStatus.FAILED,
        writeback_attempts=3,
        next_attempt_at=timezone.now() - timedelta(minutes=1),
    )
    seed(sandbox, aw)
    run = auto_writeback.auto_writeback_run(aw.pk)
    assert run.sent == 0 and run.skipped == {"重试次数已用完": 1}
    settings.AUTO_WRITEBACK_RETRY_BUDGET = 4
    run = auto_writeback.auto_writeback_run(aw.pk)
    assert run.sent == 1 and sent_ref_ids(sandbox, aw)[-1] == spent.refund_no


@pytest.mark.django_db
def test_refused_credentials_stop_the_shop(sandbox, aw, client, ops_user):
    slips = [make_slip(aw) for _ in range(5)]
    seed(sandbox, aw)
    enable(aw)
    sandbox.set_faults(app_key=aw.app_key, revoked=True)

    run = auto_writeback.auto_writeback_run(aw.pk)
    aw.refresh_from_db()
    assert aw.credential_error
    # One slip learnt it, on the fresh read before its writeback: nothing went out.
    assert len(sandbox.calls()) == 1 and sandbox.calls(method=WRITEBACK) == []
    assert run.sent == 1 and run.failed == 1  # one slip learnt it, not five
    assert run.skipped["店铺授权异常"] == 4 and "自动回传已暂停" in run.note
    failed = RawRefund.objects.get(refund_no=run.failures[0]["refund_no"])
    assert failed.next_attempt_at is not None  # retried after the backoff once ops fix the credentials

    again = auto_writeback.auto_writeback_run(aw.pk)
    assert again.status == AutoWritebackRun.Status.SKIPPED and "店铺授权异常" in again.note
    assert again.sent == 0
    assert len(sandbox.calls()) == 1
    assert RawRefund.objects.filter(pk__in=ids(slips), writeback_status=WritebackStatus.NOT_SENT).count() == 4

    client.force_login(ops_user)
    page = client.get(SETTINGS_URL, {"shop": aw.pk}).content.decode()
    assert "京东拒绝了该店铺的授权" in page and "自动回传已暂停，请更新授权后恢复" in page
    assert 'data-count="0"' in page


# --- never twice ----------------------------------------------------------------------------------
def _at_once(*calls):
    barrier = threading.Barrier(len(calls))
    out, errors = [None] * len(calls), []

    def worker(i, func):
        try:
            barrier.wait()
            out[i] = func()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, f)) for i, f in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_slip_once(sandbox, aw):
    slips = [make_slip(aw) for _ in range(30)]
    seed(sandbox, aw)
    enable(aw, batch_size=50)

    runs = _at_once(
        lambda: auto_writeback.auto_writeback_run(aw.pk), lambda: auto_writeback.auto_writeback_run(aw.pk)
    )
    sent = sent_ref_ids(sandbox, aw)
    assert sorted(sent) == sorted(s.refund_no for s in slips)  # each once
    assert sorted(r.status for r in runs) == ["done", "skipped"]
    assert sum(r.sent for r in runs) == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_and_a_manual_click_on_the_same_slips_send_each_once(sandbox, aw):
    slips = [make_slip(aw) for _ in range(30)]
    seed(sandbox, aw)
    enable(aw, batch_size=50)
    # Also two runs whose leases do not keep them apart (a run slower than the lease): the rows do.
    AutoWritebackRun.objects.create(
        shop=aw, started_at=timezone.now(), lease_until=timezone.now() - timedelta(seconds=1)
    )
    _at_once(
        lambda: auto_writeback.auto_writeback_run(aw.pk),
        lambda: refund_writeback([s.pk for s in slips], by="客服", trigger=WritebackTrigger.MANUAL),
    )
    assert sorted(sent_ref_ids(sandbox, aw)) == sorted(s.refund_no for s in slips)


@pytest.mark.django_db
def test_a_run_killed_after_claiming_is_recovered_by_the_next(sandbox, aw):
    long_ago = timezone.now() - timedelta(minutes=10)
    killed = AutoWritebackRun.objects.create(
        shop=aw, started_at=long_ago, lease_until=long_ago + timedelta(minutes=5)
    )
    left = [
        make_slip(
            aw, writeback_status=WritebackStatus.SENDING, writeback_claimed_at=long_ago, writeback_attempts=1
        )
        for _ in range(3)
    ]
    busy = make_slip(aw, writeback_status=WritebackStatus.SENDING, writeback_claimed_at=timezone.now())
    seed(sandbox, aw)
    enable(aw)

    run = auto_writeback.auto_writeback_run(aw.pk)
    assert sorted(sent_ref_ids(sandbox, aw)) == sorted(s.refund_no for s in left)
    assert run.succeeded == 3 and run.skipped.get("回传中") == 1
    killed.refresh_from_db()
    assert killed.status == AutoWritebackRun.Status.INTERRUPTED and killed.finished_at
    assert RawRefund.objects.get(pk=busy.pk).writeback_status == WritebackStatus.SENDING
    recovered = RawRefund.objects.get(pk=left[0].pk)
    assert recovered.writeback_status == WritebackStatus.SUCCEEDED
    assert events_for(recovered).filter(action="回传超时重置").exists()


@pytest.mark.django_db
def test_a_run_holding_its_lease_keeps_the_next_tick_out(sandbox, aw):
    make_slip(aw)
    seed(sandbox, aw)
    enable(aw)
    AutoWritebackRun.objects.create(
        shop=aw, started_at=timezone.now(), lease_until=timezone.now() + timedelta(minutes=5)
    )
    run = auto_writeback.auto_writeback_run(aw.pk)
    assert run.status == AutoWritebackRun.Status.SKIPPED and "仍在进行" in run.note
    assert sent_ref_ids(sandbox, aw) == []


# --- the settings page ---------------------------------------------------------------------------------
def form_data(shop, **over):
    data = {
        "shop": shop.pk,
        "enabled": "on",
        "refund_types": ["1"],
        "platform_statuses": ["2"],
        "reasons": "",
        "interval_minutes": "5",
        "batch_size": "50",
        "arrival_rule": "full",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.django_db
def test_settings_page_saves_and_the_periodic_task_follows(client, ops_user):
    shop = ShopFactory()
    client.force_login(ops_user)
    page = client.get(SETTINGS_URL, {"shop": shop.pk})
    assert page.status_code == 200
    text = page.content.decode()
    assert "按当前规则，下一次将回传" in text and "开启自动回传" in text
    assert not AutoWritebackRule.objects.exists()  # looking writes nothing

    response = client.post(
        SETTINGS_URL,
        form_data(shop, interval_minutes="10", reasons="不想要了，拍错/多拍", arrival_rule="partial"),
    )
    assert response.status_code == 302
    rule = AutoWritebackRule.objects.get(shop=shop)
    assert rule.enabled and rule.interval_minutes == 10 and rule.reasons == ["不想要了", "拍错/多拍"]
    shop.refresh_from_db()
    assert shop.arrival_rule == "partial"
    task = PeriodicTask.objects.get(task="refunds.run_auto_writeback")
    assert task.enabled and task.args == f"[{shop.pk}]"
    assert (task.interval.every, task.interval.period) == (10, IntervalSchedule.MINUTES)
    event = events_for(rule).get(field="interval_minutes")
    assert (event.from_state, event.to_state, event.actor_name) == ("5", "10", ops_user.username)
    assert events_for(shop).get(field="arrival_rule").to_state == "部分到货"
    followed = client.get(response["Location"]).content.decode()
    assert "全角逗号" in followed  # the warning after saving

    client.post(SETTINGS_URL, form_data(shop, interval_minutes="3"))
    task.refresh_from_db()
    assert (
        task.interval.every == 3
        and PeriodicTask.objects.filter(task="refunds.run_auto_writeback").count() == 1
    )

    client.post(SETTINGS_URL, form_data(shop, enabled=None))
    task.refresh_from_db()
    assert task.enabled is False
    assert events_for(rule).filter(field="enabled").latest("id").to_state == "关闭"
    assert auto_writeback.auto_writeback_run(shop.pk) is None


@pytest.mark.parametrize(
    "field, value, label",
    [
        ("batch_size", "0", "每次回传条数"),
        ("batch_size", "10000", "每次回传条数"),
        ("interval_minutes", "0", "回传间隔"),
        ("refund_types", ["9"], "退款类型"),
        ("platform_statuses", ["6"], "平台状态"),
        ("refund_types", [], "退款类型"),
    ],
)
@pytest.mark.django_db
def test_validation_messages_name_the_field(client, ops_user, field, value, label):
    shop = ShopFactory()
    client.force_login(ops_user)
    response = client.post(SETTINGS_URL, form_data(shop, **{field: value or None}))
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith(label) for m in messages), messages
    assert not AutoWritebackRule.objects.exists()


@pytest.mark.parametrize(
    "values, label",
    [
        ({"batch_size": 0}, "每次回传条数"),
        ({"batch_size": 10000}, "每次回传条数"),
        ({"interval_minutes": 0}, "回传间隔"),
        ({"refund_types": [9]}, "退款类型"),
        ({"platform_statuses": [6]}, "平台状态"),
    ],
)
@pytest.mark.django_db
def test_the_service_refuses_bad_values_too(values, label):
    shop = ShopFactory()
    with pytest.raises(ValidationError) as error:
        auto_writeback.auto_writeback_rule_save(shop, values, by="测试")
    assert any(m.startswith(label) for m in error.value.messages), error.value.messages


@pytest.mark.django_db
def test_the_preview_matches_what_the_next_run_sends(sandbox, aw, client, ops_user):
    for n in range(6):
        make_slip(aw, reason="不想要了" if n % 2 else "拍错/多拍")
    make_slip(aw, order_status=OrderStatus.SHIPPED)
    make_slip(aw, reason="商品质量问题")
    seed(sandbox, aw)
    enable(aw, batch_size=2, reasons=["不想要了", "拍错/多拍"])

    client.force_login(ops_user)
    page = client.get(SETTINGS_URL, {"shop": aw.pk}).content.decode()
    assert '按当前规则，下一次将回传 <strong id="preview-count">2</strong> 条' in page
    assert "订单状态大于财审" in page and "原因不匹配" in page
    shown = auto_writeback.auto_writeback_preview(AutoWritebackRule.objects.get(shop=aw)).selection.slips
    for slip in shown:
        assert f'data-slip="{slip.pk}"' in page
    auto_writeback.auto_writeback_run(aw.pk)
    assert sorted(sent_ref_ids(sandbox, aw)) == sorted(s.refund_no for s in shown)

    # Live preview of unsaved values: what a batch of 10 would send now.
    live = client.get(
        reverse("admin:sa_sync_autowritebackrule_preview"), form_data(aw, batch_size="10", reasons="不想要了")
    )
    assert 'data-count="2"' in live.content.decode()  # the other 不想要了 slips not yet sent
    bad = client.get(reverse("admin:sa_sync_autowritebackrule_preview"), form_data(aw, batch_size="0"))
    assert "每次回传条数" in bad.content.decode()


@pytest.mark.django_db
def test_copy_rules_to_other_shops(client, ops_user):
    source, other, untouched = ShopFactory(), ShopFactory(), ShopFactory()
    client.force_login(ops_user)
    client.post(SETTINGS_URL, form_data(source, reasons="不想要了", batch_size="20", arrival_rule="partial"))
    response = client.post(
        reverse("admin:sa_sync_autowritebackrule_copy"), {"shop": source.pk, "target_shops": [other.pk]}
    )
    assert response.status_code == 302
    rule = AutoWritebackRule.objects.get(shop=other)
    # 开启 is not copied unless asked: the other shop must not start sending by surprise.
    assert (rule.enabled, rule.reasons, rule.batch_size) == (False, ["不想要了"], 20)
    other.refresh_from_db()
    assert other.arrival_rule == "partial"
    assert events_for(rule).filter(field="batch_size", actor_name=ops_user.username).exists()
    assert PeriodicTask.objects.filter(task="refunds.run_auto_writeback", enabled=True).count() == 1
    assert not AutoWritebackRule.objects.filter(shop=untouched).exists()
    # Asked to, the switch is copied too, and the other shop's schedule starts.
    client.post(
        reverse("admin:sa_sync_autowritebackrule_copy"),
        {"shop": source.pk, "target_shops": [other.pk], "copy_enabled": "on"},
    )
    rule.refresh_from_db()
    assert rule.enabled
    assert PeriodicTask.objects.filter(task="refunds.run_auto_writeback", enabled=True).count() == 2


@pytest.mark.django_db
def test_copy_without_the_switch_keeps_the_targets_own_switch(client, ops_user):
    source, other = ShopFactory(), ShopFactory()
    client.force_login(ops_user)
    client.post(SETTINGS_URL, form_data(source, reasons="不想要了"))
    client.post(SETTINGS_URL, form_data(other, reasons="拍错/多拍"))  # on, its own rule
    AutoWritebackRule.objects.filter(shop=source).update(enabled=False)
    client.post(
        reverse("admin:sa_sync_autowritebackrule_copy"), {"shop": source.pk, "target_shops": [other.pk]}
    )
    rule = AutoWritebackRule.objects.get(shop=other)
    assert rule.enabled and rule.reasons == ["不想要了"]


@pytest.mark.django_db
def test_run_history_page_and_roles(sandbox, aw, client, cs_user, ops_user, django_user_model):
    slip = make_slip(aw)
    seed(sandbox, aw)
    enable(aw)
    sandbox.set_faults(app_key=aw.app_key, fail_next=[{"kind": "jos", "code": "65", "method": WRITEBACK}])
    auto_writeback.auto_writeback_run(aw.pk)
    other_shop = ShopFactory()
    AutoWritebackRun.objects.create(
        shop=other_shop, started_at=timezone.now(), status="skipped", note="别的店"
    )

    url = reverse("admin:sa_sync_autowritebackrun_changelist")
    for user in (cs_user, ops_user):
        client.force_login(user)
        page = client.get(url, {"shop__id__exact": aw.pk})
        assert page.status_code == 200
        text = page.content.decode()
        assert slip.refund_no in text and "别的店" not in text
    assert cs_user.has_perm("sa_sync.view_autowritebackrun")
    assert not cs_user.has_perm("sa_sync.change_autowritebackrule")
    assert ops_user.has_perm("sa_sync.change_autowritebackrule")
    client.force_login(cs_user)
    assert client.get(SETTINGS_URL, {"shop": aw.pk}).status_code == 403
    outsider = make_user(django_user_model, "nobody_aw")
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_the_menu_puts_both_pages_under_system_settings(client, ops_user):
    client.force_login(ops_user)
    apps = client.get("/admin/").context["app_list"]
    settings_menu = next(a for a in apps if a["name"] == "系统设置")
    names = [m["object_name"] for m in settings_menu["models"]]
    assert "AutoWritebackRule" in names and "AutoWritebackRun" in names


@pytest.mark.django_db
def test_run_now_runs_the_saved_rule_and_its_record_lists_each_slip(sandbox, aw, client, ops_user):
    sendable = make_slip(aw)
    shipped = make_slip(aw, order_status=OrderStatus.SHIPPED)
    seed(sandbox, aw)
    auto_writeback.auto_writeback_rule_save(aw, {"enabled": False}, by="测试")  # saved, switched off
    client.force_login(ops_user)
    response = client.post(reverse("admin:sa_sync_autowritebackrule_run_now"), {"shop": aw.pk})
    run = AutoWritebackRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:sa_sync_autowritebackrun_change", args=[run.pk])
    assert run.started_by == ops_user.username and (run.sent, run.succeeded) == (1, 1)
    by_slip = {o["refund_no"]: o for o in run.outcomes}
    assert by_slip[sendable.refund_no]["decision"] == "succeeded"
    assert by_slip[shipped.refund_no]["decision"] == "not_sent"
    assert "订单已发货" in by_slip[shipped.refund_no]["reason"]
    assert [str(c["params"]["refId"]) for c in sandbox.calls(method=WRITEBACK)] == [sendable.refund_no]
    page = client.get(response["Location"]).content.decode()
    sent_table = page.split('id="run-sent"')[1].split("</table>")[0]
    not_sent_table = page.split('id="run-not-sent"')[1].split("</table>")[0]
    assert sendable.refund_no in sent_table and shipped.refund_no not in sent_table
    assert shipped.refund_no in not_sent_table and "订单已发货" in not_sent_table
    assert events_for(AutoWritebackRule.objects.get(shop=aw)).filter(action="立即运行一次").exists()


@pytest.mark.django_db
def test_run_now_needs_a_saved_rule_and_the_change_permission(client, ops_user, cs_user, shop):
    client.force_login(cs_user)
    url = reverse("admin:sa_sync_autowritebackrule_run_now")
    assert client.post(url, {"shop": shop.pk}).status_code == 403
    client.force_login(ops_user)
    response = client.post(url, {"shop": shop.pk}, follow=True)
    assert "请先保存本店铺的规则" in response.content.decode()
    assert not AutoWritebackRun.objects.exists()


@pytest.mark.django_db
def test_a_run_that_dies_half_way_still_counts_what_it_sent(sandbox, aw, monkeypatch):
    """A process killed after the first chunks: the run's record says how many went out (it said
    发送 0 before, although they had reached JD), and the next run takes it over as 已中断."""
    slips = [make_slip(aw) for _ in range(3)]
    seed(sandbox, aw)
    enable(aw)
    real = auto_writeback.refund_writeback
    calls = []

    def dies_on_the_second_chunk(ids, **kwargs):
        calls.append(list(ids))
        if len(calls) == 2:
            raise KeyboardInterrupt("the worker was killed")  # not an Exception: nothing catches it
        return real(ids, **kwargs)

    monkeypatch.setattr(auto_writeback, "refund_writeback", dies_on_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        auto_writeback.auto_writeback_run(aw.pk)
    run = AutoWritebackRun.objects.get(shop=aw)
    assert (run.status, run.sent, run.succeeded, run.failed) == (AutoWritebackRun.Status.RUNNING, 1, 1, 0)
    assert sent_ref_ids(sandbox, aw) == [slips[0].refund_no]
