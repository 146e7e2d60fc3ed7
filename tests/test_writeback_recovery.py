"""Dead workers and long waits: a new job never waits for someone else's lease; a job whose worker
died is resumed by the sweep; slips left 回传中 end 结果未知 (read from JD again, resent once at most) instead of staying stuck."""

from datetime import timedelta

import pytest
from django.utils import timezone

import sa_sync.writeback
from refunds.models import WRITEBACK_LEASE, RawRefund, WritebackStatus
from sa_sync.models import WritebackJob, WritebackOutcome
from sa_sync.writeback import JOB_DEAD_AFTER, writeback_job_run, writeback_recover

from .conftest import seed_applications
from .test_writeback_service import reload, slip_for, writebacks

pytestmark = pytest.mark.django_db


def claimed(slip, *, ago=timedelta(0)):
    """`slip` as another caller left it: 回传中, claimed `ago`."""
    slip.start_writeback()
    slip.save()
    RawRefund.objects.filter(pk=slip.pk).update(writeback_claimed_at=timezone.now() - ago)
    return reload(slip)


def test_a_new_job_does_not_wait_for_slips_someone_else_is_sending(sandbox, jd, monkeypatch):
    def no_sleep(seconds):
        raise AssertionError(f"a new job slept {seconds:.0f} s, holding a worker")

    monkeypatch.setattr(sa_sync.writeback.time, "sleep", no_sleep)
    busy, free = claimed(slip_for(jd)), slip_for(jd)
    seed_applications(sandbox, [busy, free])
    job = WritebackJob.objects.create(slip_ids=[busy.pk, free.pk], total=2)
    job = writeback_job_run(job.pk)
    assert (job.status, job.done, job.succeeded, job.resumed_count) == ("done", 2, 1, 0)
    outcomes = dict(job.attempts.values_list("slip_id", "outcome"))
    assert outcomes == {busy.pk: WritebackOutcome.SKIPPED, free.pk: WritebackOutcome.SUCCEEDED}
    assert [str(c["params"]["refId"]) for c in writebacks(sandbox)] == [free.refund_no]


def test_a_duplicate_delivery_of_a_live_job_does_nothing(sandbox, jd):
    slip = slip_for(jd)
    seed_applications(sandbox, [slip])
    job = WritebackJob.objects.create(
        slip_ids=[slip.pk], total=1, status=WritebackJob.Status.RUNNING, heartbeat_at=timezone.now()
    )
    assert writeback_job_run(job.pk).status == WritebackJob.Status.RUNNING
    assert writebacks(sandbox) == [] and reload(slip).writeback_status == WritebackStatus.NOT_SENT


def test_the_sweep_resumes_a_job_whose_worker_died(sandbox, jd, django_capture_on_commit_callbacks):
    slips = [slip_for(jd) for _ in range(3)]
    seed_applications(sandbox, slips)
    dead_for = WRITEBACK_LEASE + JOB_DEAD_AFTER
    job = WritebackJob.objects.create(
        slip_ids=[s.pk for s in slips],
        total=3,
        status=WritebackJob.Status.RUNNING,
        heartbeat_at=timezone.now() - dead_for,
    )
    claimed(slips[0], ago=dead_for)  # the dead worker had claimed the first slip
    with django_capture_on_commit_callbacks(execute=False) as queued:
        recovery = writeback_recover()
    assert recovery.jobs_resumed == [job.pk] and recovery.slips_released == []
    job.refresh_from_db()
    assert job.status == WritebackJob.Status.INTERRUPTED and len(queued) == 1
    # What the queued task does (the broker is not part of this test):
    job = writeback_job_run(job.pk)
    assert (job.status, job.succeeded, job.resumed_count) == ("done", 3, 1)
    assert sorted(str(c["params"]["refId"]) for c in writebacks(sandbox)) == sorted(
        s.refund_no for s in slips
    )


def test_the_sweep_leaves_a_live_job_alone(jd):
    job = WritebackJob.objects.create(
        slip_ids=[], total=0, status=WritebackJob.Status.RUNNING, heartbeat_at=timezone.now()
    )
    assert writeback_recover().jobs_resumed == []
    job.refresh_from_db()
    assert job.status == WritebackJob.Status.RUNNING


def test_a_slip_abandoned_outside_any_job_ends_unknown_and_is_read_again(jd):
    stuck = claimed(slip_for(jd), ago=WRITEBACK_LEASE + timedelta(seconds=1))
    fresh = claimed(slip_for(jd))
    recovery = writeback_recover()
    assert recovery.slips_released == [stuck.pk] and recovery.slips_rechecked == [stuck.pk]
    stuck, fresh = reload(stuck), reload(fresh)
    # JD does not know it (nothing seeded): nothing is sent blind, it stays 结果未知 for the next look
    assert stuck.writeback_status == WritebackStatus.UNKNOWN and "结果仍未知" in stuck.writeback_message
    assert stuck.next_attempt_at > timezone.now()
    assert fresh.writeback_status == WritebackStatus.SENDING


def test_a_resumed_job_sends_the_rest_before_it_waits_for_abandoned_slips(sandbox, jd, monkeypatch):
    """Only the dead worker's own claims wait for the lease; the rest of the job goes out at once."""
    abandoned, rest = claimed(slip_for(jd)), [slip_for(jd) for _ in range(3)]
    seed_applications(sandbox, [abandoned, *rest])
    sent_before_waiting = []

    def wait(slip_ids):
        sent_before_waiting.extend(str(c["params"]["refId"]) for c in writebacks(sandbox))
        assert slip_ids == [abandoned.pk]
        RawRefund.objects.filter(pk=abandoned.pk).update(
            writeback_claimed_at=timezone.now() - WRITEBACK_LEASE - timedelta(seconds=1)
        )

    monkeypatch.setattr(sa_sync.writeback, "_wait_for_abandoned_claims", wait)
    job = WritebackJob.objects.create(
        slip_ids=[abandoned.pk, *(s.pk for s in rest)], total=4, status=WritebackJob.Status.INTERRUPTED
    )
    job = writeback_job_run(job.pk)
    assert sorted(sent_before_waiting) == sorted(s.refund_no for s in rest)
    assert (job.status, job.succeeded) == ("done", 4)


def test_a_repeat_after_an_interruption_says_the_earlier_outcome_is_unknown(sandbox, jd):
    """A slip the sweep released (its process died mid-send) is read from JD and, JD still open,
    sent once more by the same sweep; the attempt says it is the one repeat, JD asked first."""
    slip = claimed(slip_for(jd), ago=WRITEBACK_LEASE + timedelta(seconds=1))
    seed_applications(sandbox, [slip])
    writeback_recover()
    assert reload(slip).writeback_status == WritebackStatus.SUCCEEDED
    assert len(writebacks(sandbox)) == 1
    attempt = reload(slip).attempts.get()
    assert "结果未知，本次为唯一一次重发" in attempt.message and attempt.request_summary.get("checked")
