"""退款回传 through the one service every caller uses, against the SA sandbox over real HTTP."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.audit import events_for
from orders.models import InterceptionStatus, OrderStatus, ServiceOrderReturnSignal
from refunds.models import (
    ALREADY_DONE,
    WRITEBACK_LEASE,
    PlatformStatus,
    RawRefund,
    RefundType,
    WritebackStatus,
)
from sa_sync.models import WritebackAttempt, WritebackOutcome
from sa_sync.writeback import refund_writeback

from .conftest import PASSWORD, seed_applications
from .factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db(transaction=True)

WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


def slip_for(shop, order_status=OrderStatus.AWAITING_CS_REVIEW, **kwargs):
    line = OrderLineFactory(order=OrderFactory(shop=shop, status=order_status))
    return RawRefundFactory(order_line=line, **kwargs)


def writebacks(sandbox):
    return sandbox.calls(method=WRITEBACK)


def reload(slip):
    return RawRefund.objects.get(pk=slip.pk)


def test_success_sends_once_and_records_everything(sandbox, jd, cs_user):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    [result] = refund_writeback([slip.pk], by=cs_user)

    assert result.succeeded and result.message == "操作成功"
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.SUCCEEDED
    assert slip.platform_status == PlatformStatus.APPLIED  # a writeback is not a refund
    [call] = writebacks(sandbox)
    # numbers, as JD's SDKs type them (orderId, refId Long; status Integer)
    assert call["params"] == {"orderId": int(slip.tid), "refId": int(slip.refund_no), "status": 1}
    attempt = WritebackAttempt.objects.get(slip=slip)
    assert (attempt.outcome, attempt.actor_name, attempt.kind) == (
        "succeeded",
        cs_user.username,
        "shipment_cancelled",
    )
    assert attempt.request_summary["params"]["refId"] == int(slip.refund_no)
    text = str(attempt.request_summary) + str(attempt.response)
    assert jd.access_token not in text and jd.app_secret not in text
    transitions = [(e.from_state, e.to_state) for e in events_for(slip).order_by("id")]
    assert transitions == [("未回传", "回传中"), ("回传中", "回传成功")]


def test_goods_in_warehouse_on_the_application_behind_a_return_sends_its_own_status(sandbox, jd):
    """A return is a JD service order; a shop set to 申请单仓库状态 tells JD 退货入仓 with
    updateWarehouseStatus on the application behind it (its 申请单号) and the 退货入仓 value."""
    jd.service_order_return_signal = ServiceOrderReturnSignal.WAREHOUSE_STATUS
    jd.save()
    slip = slip_for(
        jd,
        order_status=OrderStatus.COMPLETED,
        refund_type=RefundType.RETURN,
        platform_status=PlatformStatus.AWAITING_RECEIPT,
        num=2,
        inbound_num=2,
    )
    seed_applications(sandbox, [slip])  # the service order's applyId is its service id here
    assert refund_writeback([slip.pk])[0].succeeded
    [call] = writebacks(sandbox)
    assert call["params"] == {"orderId": int(slip.tid), "refId": int(slip.refund_no), "status": 2}
    assert sandbox.calls(method="jingdong.asc.receive.register") == []


def test_a_return_follows_the_shops_choice_not_the_refund_application_setting(sandbox, jd, settings):
    """退货入仓 on a return (a service order) goes where the shop's 服务单退货入仓方式 says (收货登记
    by default), whatever the refund applications' return method is set to; 取消发货成功 stays on
    updateWarehouseStatus."""
    settings.JOS_RETURN_WRITEBACK_METHOD = "jingdong.pop.afs.soa.refundapply.somethingElse"
    returned = slip_for(
        jd,
        order_status=OrderStatus.COMPLETED,
        refund_type=RefundType.RETURN,
        platform_status=PlatformStatus.AWAITING_RECEIPT,
        num=1,
        inbound_num=1,
    )
    cancelled = slip_for(jd)
    seed_applications(sandbox, [returned, cancelled])
    results = {r.slip_id: r for r in refund_writeback([returned.pk, cancelled.pk])}

    assert results[cancelled.pk].succeeded and results[returned.pk].succeeded
    assert [c["params"]["refId"] for c in writebacks(sandbox)] == [int(cancelled.refund_no)]
    [registered] = sandbox.calls(method="jingdong.asc.receive.register")
    assert (registered["params"]["serviceId"], registered["params"]["buId"]) == (
        int(returned.refund_no),
        jd.vender_id,
    )
    attempt = WritebackAttempt.objects.get(slip=returned)
    assert attempt.request_summary["method"] == "jingdong.asc.receive.register"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (dict(order_status=OrderStatus.SHIPPED), "订单已发货，无法回传取消发货成功"),
        (dict(order_status=OrderStatus.COMPLETED), "订单已发货，无法回传取消发货成功"),
        (dict(order_status=OrderStatus.IN_WAREHOUSE), "拦截未确认成功"),
        (dict(order_status=OrderStatus.IN_WAREHOUSE, interception=InterceptionStatus.PENDING), "待仓库确认"),
        (dict(order_status=OrderStatus.IN_WAREHOUSE, interception=InterceptionStatus.FAILED), "拦截失败"),
        (dict(refund_type=RefundType.EXCHANGE), "换货单无需回传退款信号"),
        (dict(platform_status=PlatformStatus.REFUNDED), "该退款单无需回传"),
        (
            dict(refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RECEIPT),
            "退货尚未入库",
        ),
        (
            dict(
                refund_type=RefundType.RETURN,
                platform_status=PlatformStatus.AWAITING_RECEIPT,
                num=2,
                inbound_num=1,
            ),
            "退货未全部到货（已入库 1/2",
        ),
        (dict(shop_disabled=True), "店铺未启用SA回传"),
        (dict(no_order=True), "未找到对应的系统订单"),
    ],
)
def test_every_precondition_refusal_sends_nothing(sandbox, jd, setup, reason):
    setup = dict(setup)
    interception = setup.pop("interception", None)
    if setup.pop("shop_disabled", False):
        jd.sa_writeback_enabled = False
        jd.save()
    no_order = setup.pop("no_order", False)
    slip = slip_for(jd, **setup)
    if interception is not None:
        type(slip.order_line).objects.filter(pk=slip.order_line_id).update(interception_status=interception)
    if no_order:
        RawRefund.objects.filter(pk=slip.pk).update(order=None, order_line=None)
    seed_applications(sandbox, [slip])

    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.REFUSED and reason in result.message
    assert writebacks(sandbox) == []
    slip = reload(slip)
    # Shown as 回传失败 with the reason (the 回传失败 filter finds it), and due again at once.
    assert slip.writeback_status == WritebackStatus.FAILED and reason in slip.writeback_message
    assert slip.writeback_attempts == 0 and slip.next_attempt_at is not None
    assert WritebackAttempt.objects.get(slip=slip).outcome == "refused"


def test_a_refused_slip_is_sent_once_the_cause_goes_away(sandbox, jd):
    slip = slip_for(jd, order_status=OrderStatus.IN_WAREHOUSE)
    seed_applications(sandbox, [slip])
    [refused] = refund_writeback([slip.pk])
    assert (
        refused.outcome == WritebackOutcome.REFUSED
        and reload(slip).writeback_status == WritebackStatus.FAILED
    )
    # The warehouse stops the parcel: the same slip may now be written back.
    type(slip.order_line).objects.filter(pk=slip.order_line_id).update(
        interception_status=InterceptionStatus.SUCCEEDED
    )
    [sent] = refund_writeback([slip.pk])
    assert sent.outcome == WritebackOutcome.SUCCEEDED and len(writebacks(sandbox)) == 1
    assert reload(slip).writeback_status == WritebackStatus.SUCCEEDED


def test_confirmed_interception_allows_the_writeback(sandbox, jd):
    slip = slip_for(jd, order_status=OrderStatus.IN_WAREHOUSE)
    type(slip.order_line).objects.filter(pk=slip.order_line_id).update(
        interception_status=InterceptionStatus.SUCCEEDED
    )
    seed_applications(sandbox, [slip])
    assert refund_writeback([slip.pk])[0].succeeded


def test_written_back_twice_calls_jd_once(sandbox, jd):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    assert refund_writeback([slip.pk])[0].succeeded
    [again] = refund_writeback([slip.pk])
    assert again.outcome == WritebackOutcome.SKIPPED and again.message == ALREADY_DONE
    assert len(writebacks(sandbox)) == 1


def test_revoked_token_fails_with_its_reason_and_marks_the_shop(sandbox, jd):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    sandbox.set_faults(app_key=jd.app_key, revoked=True)
    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED and "access_token" in result.message
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.FAILED and "access_token" in slip.writeback_message
    assert slip.next_attempt_at is not None  # retried once ops fix the token (the shop is paused until then)
    jd.refresh_from_db()
    assert "access_token" in jd.credential_error


def test_unknown_application_is_a_business_failure(sandbox, jd):
    slip = slip_for(jd)  # not seeded: JD does not know this refId
    [result] = refund_writeback([slip.pk])
    # The fresh read finds nothing: nothing is sent for an application JD does not know.
    assert result.outcome == WritebackOutcome.REFUSED and "京东查无此退款单" in result.message
    assert reload(slip).writeback_status == WritebackStatus.FAILED
    assert writebacks(sandbox) == []


def test_platform_timeout_fails_retryably_then_a_retry_succeeds(sandbox, jd, settings):
    settings.JOS_MAX_RETRIES = 0
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    sandbox.set_faults(app_key=jd.app_key, fail_next=[{"kind": "jos", "code": "65"}])
    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED and "65" in result.message
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.FAILED and slip.next_attempt_at > timezone.now()
    # A failed slip can be written back again.
    assert refund_writeback([slip.pk])[0].succeeded
    assert reload(slip).writeback_attempts == 2


def test_stuck_sending_slip_is_recovered_after_the_lease_and_sent_again(sandbox, jd):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    slip.start_writeback()
    slip.save()  # a process claimed it and died before recording anything
    [early] = refund_writeback([slip.pk])
    assert early.outcome == WritebackOutcome.SKIPPED and writebacks(sandbox) == []

    RawRefund.objects.filter(pk=slip.pk).update(
        writeback_claimed_at=timezone.now() - WRITEBACK_LEASE - timedelta(seconds=1)
    )
    [result] = refund_writeback([slip.pk])
    assert result.succeeded
    assert len(writebacks(sandbox)) == 1
    actions = list(events_for(slip).order_by("id").values_list("action", flat=True))
    assert "回传超时重置" in actions


@pytest.mark.postgres
def test_two_callers_racing_on_the_same_50_slips_send_each_once(sandbox, jd, cs_user, ops_user):
    slips = [slip_for(jd) for _ in range(50)]
    seed_applications(sandbox, slips)
    ids = [s.pk for s in slips]
    barrier = threading.Barrier(2)
    outcomes = []

    def caller(user):
        try:
            barrier.wait()
            outcomes.extend(refund_writeback(ids, by=user, concurrency=4))
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=(u,)) for u in (cs_user, ops_user)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [c["params"]["refId"] for c in writebacks(sandbox)]
    assert sorted(sent) == sorted(int(s.refund_no) for s in slips)  # 50 calls, each slip once
    assert RawRefund.objects.filter(pk__in=ids, writeback_status=WritebackStatus.SUCCEEDED).count() == 50
    assert sum(r.succeeded for r in outcomes) == 50


def test_many_slips_are_sent_concurrently_and_reported_in_order(sandbox, jd):
    slips = [slip_for(jd) for _ in range(12)]
    seed_applications(sandbox, slips)
    results = refund_writeback([s.pk for s in slips], concurrency=4)
    assert [r.slip_id for r in results] == [s.pk for s in slips]
    assert all(r.succeeded for r in results)


# --- the admin action ----------------------------------------------------------------------------
def post_action(client, ids, **extra):
    return client.post(
        reverse("admin:refunds_rawrefund_changelist"),
        {"action": "refund_writeback", "_selected_action": ids, "index": 0, **extra},
        follow=True,
    )


def test_admin_action_reports_each_failure(client, sandbox, jd, cs_user):
    ok = [slip_for(jd), slip_for(jd)]
    shipped = slip_for(jd, order_status=OrderStatus.SHIPPED)
    seed_applications(sandbox, [*ok, shipped])
    client.login(username=cs_user.username, password=PASSWORD)
    response = post_action(client, [s.pk for s in [*ok, shipped]])
    texts = [str(m) for m in response.context["messages"]]
    assert "操作成功：2 条已回传成功。" in texts
    assert f"{shipped.refund_no}：订单已发货，无法回传取消发货成功" in texts
    html = response.content.decode()
    assert html.count("回传成功") >= 2


def test_user_without_the_permission_sees_no_action_and_is_refused(client, sandbox, jd, ops_user):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    client.login(username=ops_user.username, password=PASSWORD)
    page = client.get(reverse("admin:refunds_rawrefund_changelist")).content.decode()
    assert "refund_writeback" not in page and "writeback_menu.js" not in page
    response = post_action(client, [slip.pk])
    assert "您没有“退款回传”权限" in response.content.decode()
    assert writebacks(sandbox) == [] and reload(slip).writeback_status == WritebackStatus.NOT_SENT


def test_slip_page_lists_attempts_without_secrets(client, sandbox, jd, cs_user):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    refund_writeback([slip.pk], by=cs_user)
    client.login(username=cs_user.username, password=PASSWORD)
    html = client.get(reverse("admin:refunds_rawrefund_change", args=[slip.pk])).content.decode()
    assert "回传记录" in html and "手动回传" in html and "取消发货成功" in html and slip.refund_no in html
    assert jd.access_token not in html and jd.app_secret not in html


@pytest.fixture
def eager_celery():
    """Tasks run in the test's process when queued (here: at commit), as the worker would run them."""
    from erp_aftersales.celery import app

    app.conf.update(task_always_eager=True)
    yield
    app.conf.update(task_always_eager=False)


def test_big_selection_runs_as_a_job_with_progress(client, sandbox, jd, cs_user, settings, eager_celery):
    settings.WRITEBACK_BACKGROUND_OVER = 3
    slips = [slip_for(jd) for _ in range(4)] + [slip_for(jd, order_status=OrderStatus.SHIPPED)]
    seed_applications(sandbox, slips)
    client.login(username=cs_user.username, password=PASSWORD)
    response = post_action(client, [s.pk for s in slips])
    html = response.content.decode()
    assert "转为后台批量回传" in html
    assert '5</strong> / <span id="job-total">5' in html.replace("\n", "")  # done / total
    assert slips[-1].refund_no in html and "订单已发货" in html
    assert len(writebacks(sandbox)) == 4


def test_an_unexpected_error_fails_the_slip_instead_of_leaving_it_sending(sandbox, jd, monkeypatch):
    from platforms.jd.client import JosClient

    def broken(self, method, params=None):
        raise RuntimeError("bug")

    monkeypatch.setattr(JosClient, "call", broken)  # stands in for a bug in one function
    slip = slip_for(jd)
    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED and "内部错误" in result.message
    assert reload(slip).writeback_status == WritebackStatus.FAILED


@pytest.mark.parametrize(
    ("fault", "message", "retried_later"),
    [
        ({"kind": "jos", "code": "2"}, "调用次数超限", True),
        ({"kind": "jos", "code": "65"}, "65", True),
        ({"kind": "http", "status": 503}, "HTTP 503", True),
        ({"kind": "jos", "code": "12"}, "App Secret", True),  # credentials: after ops fix them
        ({"kind": "jos", "code": "24"}, "权限", True),
        ({"kind": "jos", "code": "15"}, "15", False),
        ({"kind": "jos", "code": "8"}, "时间", False),
    ],
)
def test_each_jos_failure_ends_failed_with_its_reason(sandbox, jd, settings, fault, message, retried_later):
    settings.JOS_MAX_RETRIES = 0
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    # The writeback call fails (the fresh read before it goes through): tests/test_fresh_read.py
    # covers the read failing.
    sandbox.set_faults(app_key=jd.app_key, fail_next=[{**fault, "method": WRITEBACK}])
    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED and message in result.message, result.message
    slip = reload(slip)
    # JD's platform timeout and a 5xx may have been done on JD: 结果未知, read again before any resend
    lost = message in ("65", "HTTP 503")
    status = WritebackStatus.UNKNOWN if lost else WritebackStatus.FAILED
    assert slip.writeback_status == status and slip.writeback_message == result.message
    assert (slip.next_attempt_at is not None) is retried_later


def test_a_late_outcome_never_overwrites_the_caller_who_took_the_slip_over(sandbox, jd):
    """A's claim expires while JD is slow; B takes the slip over and succeeds; A's timeout arrives
    last. The slip stays 回传成功 (B's outcome) and A's answer is kept only as an attempt."""
    from platforms.jd.errors import JosTransportError
    from platforms.port import UNKNOWN, WriteOutcome
    from sa_sync.writeback import _claim_batch, _record_batch

    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    _, [a_claim] = _claim_batch([slip.pk], by="甲", trigger="manual", job=None)
    RawRefund.objects.filter(pk=slip.pk).update(
        writeback_claimed_at=timezone.now() - WRITEBACK_LEASE - timedelta(seconds=1)
    )
    a_claim.claimed_at = reload(slip).writeback_claimed_at
    assert refund_writeback([slip.pk], by="乙")[0].succeeded
    a_claim.outcome = WriteOutcome(UNKNOWN, error=JosTransportError.timeout())
    _record_batch([a_claim], by="甲", trigger="manual", job=None)
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.SUCCEEDED
    late = WritebackAttempt.objects.filter(slip=slip, actor_name="甲", outcome="failed").get()
    assert late.message.startswith("（超时后返回，未更新状态）")


def test_a_very_long_answer_from_jd_is_kept_short_not_fatal(sandbox, jd, monkeypatch):
    from platforms.jd.client import JosClient
    from platforms.jd.errors import JosBusinessError

    def long_refusal(self, method, params=None):
        raise JosBusinessError("TOO_LONG", "拒绝" * 400)

    monkeypatch.setattr(JosClient, "call", long_refusal)  # stands in for JD's free-text answer
    slip = slip_for(jd)
    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.FAILED and len(slip.writeback_message) <= 500
    assert len(WritebackAttempt.objects.get(slip=slip).message) <= 500


def test_redelivered_job_takes_over_slips_its_dead_worker_left_sending(sandbox, jd, monkeypatch):
    import refunds.models
    import sa_sync.writeback
    from sa_sync.models import WritebackJob
    from sa_sync.writeback import writeback_job_run

    short = timedelta(seconds=1)
    monkeypatch.setattr(refunds.models, "WRITEBACK_LEASE", short)
    monkeypatch.setattr(sa_sync.writeback, "WRITEBACK_LEASE", short)
    slips = [slip_for(jd) for _ in range(2)]
    seed_applications(sandbox, slips)
    # The first delivery started the job, claimed the slips and died (no heartbeat since).
    job = WritebackJob.objects.create(slip_ids=[s.pk for s in slips], total=2, status="running")
    for slip in slips:
        slip.start_writeback()
        slip.save()
    job = writeback_job_run(job.pk)
    assert (job.status, job.done, job.succeeded, job.resumed_count) == ("done", 2, 2, 1)
    assert len(writebacks(sandbox)) == 2


# --- JD's own answers, and answers lost on the way ------------------------------------------------
def test_a_writeback_jd_refuses_shows_jds_own_words_on_the_slip(sandbox, jd):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    # JD holds the application under another order: it refuses in returnType (errorCode/errorMsg).
    sandbox.update_refund(int(slip.refund_no), orderId=int(slip.tid) + 1)
    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED
    slip = reload(slip)
    assert slip.writeback_message == "京东返回：订单号与退款单不匹配"
    assert WritebackAttempt.objects.get(slip=slip).response_code == "ORDER_MISMATCH"
    assert len(writebacks(sandbox)) == 1


def test_a_writeback_jd_accepted_is_never_sent_again(sandbox, jd):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    assert refund_writeback([slip.pk])[0].succeeded
    for _ in range(2):
        [again] = refund_writeback([slip.pk])
        assert again.outcome == WritebackOutcome.SKIPPED and again.message == ALREADY_DONE
    assert len(writebacks(sandbox)) == 1
    assert writebacks(sandbox)[0]["params"] == {
        "orderId": int(slip.tid),
        "refId": int(slip.refund_no),
        "status": 1,
    }


@pytest.mark.parametrize(
    "fault",
    [{"kind": "hang", "seconds": 1.5}, {"kind": "http", "status": 503}, {"kind": "jos", "code": "65"}],
    ids=["the answer is late", "HTTP 503", "JD's platform timeout"],
)
def test_a_writeback_whose_answer_is_lost_is_sent_once_and_never_called_a_refusal(
    sandbox, jd, settings, fault
):
    settings.JOS_TIMEOUT_SECONDS = 0.5
    settings.JOS_MAX_RETRIES = 3  # reads may retry; the write still goes once
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    sandbox.set_faults(app_key=jd.app_key, fail_next=[{**fault, "method": WRITEBACK}])
    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED
    # not JD's refusal: JD may have done it (the sandbox does, for a late answer)
    assert "请求可能已到达京东，结果未知，未重发" in result.message
    slip = reload(slip)
    assert slip.writeback_status == WritebackStatus.UNKNOWN and slip.next_attempt_at > timezone.now()
    deadline = timezone.now() + timedelta(seconds=5)
    while fault["kind"] == "hang" and not writebacks(sandbox) and timezone.now() < deadline:
        threading.Event().wait(0.1)  # a late answer is logged when the sandbox finishes it
    assert len(writebacks(sandbox)) == 1
