"""When JD or Redis is down: a background job keeps the slips it could not send and the recovery
sweep resumes it; a failed slip's message promises an automatic retry only when one will happen;
and a web request hands any selection above WRITEBACK_BACKGROUND_OVER (20) to a background job."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.keys import api_key_create
from refunds.models import WRITEBACK_LEASE, RawRefund, WritebackStatus
from sa_sync.models import AutoWritebackRule, WritebackJob, WritebackOutcome
from sa_sync.writeback import JOB_RETRY_ROUNDS, refund_writeback, writeback_job_run, writeback_recover

from .api.conftest import client_for
from .conftest import PASSWORD, seed_applications
from .test_writeback_service import post_action, reload, slip_for, writebacks

pytestmark = pytest.mark.django_db

PROMISE = "稍后自动重试"


@pytest.fixture
def jd_down(sandbox, jd, settings):
    """JD answers every call with HTTP 503; the client does not retry within the call (fast tests)."""
    settings.JOS_MAX_RETRIES = 0
    sandbox.set_faults(app_key=jd.app_key, http_5xx_rate=1.0)

    def back_up():
        sandbox.set_faults(app_key=jd.app_key)

    return back_up


def statuses(ids):
    return list(
        RawRefund.objects.filter(pk__in=ids).order_by("pk").values_list("writeback_status", flat=True)
    )


def test_a_job_hit_by_a_jd_outage_keeps_its_slips_and_the_sweep_resumes_it(
    sandbox, jd, jd_down, client, cs_user, django_capture_on_commit_callbacks
):
    slips = [slip_for(jd) for _ in range(120)]
    seed_applications(sandbox, slips)
    ids = [s.pk for s in slips]
    job = WritebackJob.objects.create(slip_ids=ids, total=len(ids))

    job = writeback_job_run(job.pk)
    # The first 50 got nowhere: the job stopped there instead of failing the other 70 in seconds.
    assert job.status == WritebackJob.Status.INTERRUPTED
    assert statuses(ids) == [WritebackStatus.FAILED] * 50 + [WritebackStatus.NOT_SENT] * 70
    assert (job.done, job.failed) == (0, 0)  # kept slips are not done
    messages = set(RawRefund.objects.filter(pk__in=ids[:50]).values_list("writeback_message", flat=True))
    assert messages == {
        "发送前向京东核对退款单状态失败，未回传：京东接口暂时不可用（HTTP 503）；本批量任务稍后自动重试"
    }
    client.login(username=cs_user.username, password=PASSWORD)
    page = client.get(reverse("admin:sa_sync_writeback_job", args=[job.pk])).content.decode()
    assert "已中断" in page and "系统将自动继续" in page and "本批量任务稍后自动重试" in page

    # Within the lease the sweep leaves it alone; after it, the sweep queues it again.
    assert writeback_recover().jobs_resumed == []
    jd_down()  # JD answers again
    with django_capture_on_commit_callbacks(execute=False) as queued:
        recovery = writeback_recover(now=timezone.now() + WRITEBACK_LEASE + timedelta(seconds=1))
    assert recovery.jobs_resumed == [job.pk] and len(queued) == 1
    job = writeback_job_run(job.pk)  # what the queued task does
    assert (job.status, job.done, job.succeeded, job.failed, job.resumed_count) == ("done", 120, 120, 0, 1)
    assert sorted(str(c["params"]["refId"]) for c in writebacks(sandbox)) == sorted(
        s.refund_no for s in slips
    )
    page = client.get(reverse("admin:sa_sync_writeback_job", args=[job.pk])).content.decode()
    assert "暂无" in page  # none of the slips that failed first is listed as not written back any more


def test_a_job_retries_the_one_slip_jd_could_not_take_and_finishes_the_rest(sandbox, jd, settings):
    settings.JOS_MAX_RETRIES = 0
    slips = [slip_for(jd) for _ in range(5)]
    seed_applications(sandbox, slips)
    sandbox.set_faults(
        app_key=jd.app_key,
        # JD's call limit: refused before it was applied, so retrying is safe (a 5xx would be an
        # unknown outcome: 结果未知, tests/test_writeback_unknown.py).
        fail_next=[{"kind": "jos", "code": "2", "method": settings.JOS_WRITEBACK_METHOD}],
    )
    job = WritebackJob.objects.create(slip_ids=[s.pk for s in slips], total=5)

    job = writeback_job_run(job.pk)
    assert job.status == WritebackJob.Status.INTERRUPTED and (job.done, job.succeeded) == (4, 4)
    [failed] = RawRefund.objects.filter(pk__in=job.slip_ids, writeback_status=WritebackStatus.FAILED)
    assert failed.writeback_message == "京东接口调用次数超限，请稍后重试（错误码 2）；本批量任务稍后自动重试"

    WritebackJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - WRITEBACK_LEASE)
    assert writeback_recover().jobs_resumed == [job.pk]
    job = writeback_job_run(job.pk)
    assert (job.status, job.done, job.succeeded, job.failed) == ("done", 5, 5, 0)
    assert reload(failed).writeback_status == WritebackStatus.SUCCEEDED
    assert len(writebacks(sandbox)) == 6  # the failed one once more, nothing else twice


def test_a_job_out_of_retries_finishes_and_promises_nothing(sandbox, jd, jd_down):
    slips = [slip_for(jd) for _ in range(3)]
    seed_applications(sandbox, slips)
    job = WritebackJob.objects.create(
        slip_ids=[s.pk for s in slips],
        total=3,
        status=WritebackJob.Status.INTERRUPTED,
        resumed_count=JOB_RETRY_ROUNDS - 1,
        heartbeat_at=timezone.now() - WRITEBACK_LEASE,
    )
    job = writeback_job_run(job.pk)  # its last resumption
    assert (job.status, job.done, job.failed) == ("done", 3, 3)
    for slip in slips:
        message = reload(slip).writeback_message
        assert PROMISE not in message and message.endswith("请稍后重新回传"), message


def test_a_single_writeback_promises_a_retry_only_when_the_shops_rule_will_make_it(sandbox, jd, jd_down):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])

    [result] = refund_writeback([slip.pk])
    assert result.outcome == WritebackOutcome.FAILED
    assert PROMISE not in result.message and result.message.endswith("请稍后重新回传")
    assert reload(slip).writeback_message == result.message

    rule = AutoWritebackRule.objects.create(shop=jd, enabled=True, reasons=["不想要了"])
    other = slip_for(jd, reason="拍错了")  # the rule would not pick this one
    mine = slip_for(jd, reason="不想要了")
    seed_applications(sandbox, [other, mine])
    by_id = {r.slip_id: r.message for r in refund_writeback([other.pk, mine.pk])}
    assert by_id[other.pk].endswith("请稍后重新回传") and PROMISE not in by_id[other.pk]
    assert by_id[mine.pk].endswith("自动回传规则稍后自动重试")

    rule.enabled = False
    rule.save()
    [result] = refund_writeback([mine.pk])
    assert PROMISE not in result.message


def test_a_failure_that_no_retry_can_fix_promises_nothing(sandbox, jd, settings):
    slip = slip_for(jd)  # JD does not know this application: nothing to retry
    [result] = refund_writeback([slip.pk])
    assert (
        result.outcome == WritebackOutcome.REFUSED
        and "重试" not in result.message
        and "重新回传" not in result.message
    )


# --- web requests hand big selections to a background job --------------------------------------
def test_the_admin_action_sends_20_slips_itself_and_makes_21_a_background_job(client, sandbox, jd, cs_user):
    slips = [slip_for(jd) for _ in range(41)]
    seed_applications(sandbox, slips)
    client.login(username=cs_user.username, password=PASSWORD)

    response = post_action(client, [s.pk for s in slips[:20]])
    assert "操作成功：20 条已回传成功。" in [str(m) for m in response.context["messages"]]

    response = post_action(client, [s.pk for s in slips[20:]])
    job = WritebackJob.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:sa_sync_writeback_job", args=[job.pk])
    assert "已选择 21 条，转为后台批量回传" in response.content.decode()
    assert job.total == 21 and job.status == WritebackJob.Status.QUEUED
    assert len(writebacks(sandbox)) == 20  # the request itself sent none of the 21


def test_the_api_answers_202_with_a_job_for_21_slips(sandbox, jd):
    _key, raw = api_key_create(shop=jd, name="wms", by="测试")
    api = client_for(raw)
    slips = [slip_for(jd) for _ in range(21)]
    seed_applications(sandbox, slips)

    response = api.post(
        "/api/v1/raw-refunds/writeback/", {"refund_nos": [s.refund_no for s in slips[:20]]}, format="json"
    )
    assert response.status_code == 200 and response.json()["succeeded"] == 20

    response = api.post(
        "/api/v1/raw-refunds/writeback/", {"refund_nos": [s.refund_no for s in slips]}, format="json"
    )
    assert response.status_code == 202
    body = response.json()
    assert body["job"]["total"] == 21 and response["Location"] == body["job"]["url"]
    assert len(writebacks(sandbox)) == 20  # the 21 wait for the worker
