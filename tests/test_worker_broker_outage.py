"""A real Celery worker (subprocess) on a real redis-server (subprocess, a free port) that stops while
a background writeback job runs and starts again: the worker stays alive and takes new work once
Redis is back, and the job's slips are all written back, once each, either by the running task or,
when the outage also took the rate limiter's Redis, by the job resumed after it."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import connection

from refunds.models import RawRefund, WritebackStatus
from sa_sync.models import WritebackJob
from sa_sync.writeback import WRITEBACK_JOB_TASK

from .conftest import seed_applications
from .test_writeback_service import slip_for, writebacks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_SERVER = shutil.which("redis-server")
ROOT = Path(settings.BASE_DIR)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, condition, timeout, *alive):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for process in alive:
            assert process.poll() is None, f"{process.args[0]} exited while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class RedisServer:
    """redis-server on a free port, without persistence (a restart loses every queued message)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_until("redis-server to answer", lambda: _pings(client), 10, self.process)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _pings(client):
    try:
        return client.ping()
    except redis.RedisError:
        return False


def database_url():
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker():
    if REDIS_SERVER is None:
        pytest.skip("需要 redis-server 可执行文件（apt-get install redis-server）")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_worker(tmp_path, sandbox, broker):
    workers = []

    def start(*, limiter_on_broker):
        log = tmp_path / "worker.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker.url,
            # The JOS rate limiter on the same Redis (production) or on files (it then survives).
            "REDIS_URL": broker.url if limiter_on_broker else "",
            "JOS_ENDPOINT": sandbox.jos_url,
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "erp_aftersales", "worker", "-c", "2", "-Q", "celery"]
                + ["-n", f"outage{len(workers)}@%h", "--loglevel", "INFO"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log = log
        workers.append(process)
        wait_until(
            "the worker to be ready", lambda: " ready." in log.read_text(errors="replace"), 60, process
        )
        return process

    yield start
    for process in workers:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def queue_job(broker, slips):
    """What writeback_job_start does, on the worker's broker (this process's broker is another)."""
    job = WritebackJob.objects.create(slip_ids=[s.pk for s in slips], total=len(slips))
    send_job(broker, job)
    return job


def send_job(broker, job):
    with current_app.connection_for_write(broker.url) as conn:
        current_app.tasks[WRITEBACK_JOB_TASK].apply_async((job.pk,), connection=conn)


def outage_during(job, broker, worker, *, after_done=20, seconds=3):
    wait_until(f"the job to handle {after_done} slips", lambda: job_done(job) >= after_done, 60, worker)
    broker.stop()
    stopped_at = job_done(job)
    time.sleep(seconds)
    broker.start()
    return stopped_at


def job_done(job):
    return WritebackJob.objects.values_list("done", flat=True).get(pk=job.pk)


def sent_once(sandbox, slips):
    refs = [str(c["params"]["refId"]) for c in writebacks(sandbox)]
    return sorted(refs) == sorted(s.refund_no for s in slips)


def assert_worker_survived(worker):
    assert worker.poll() is None, "the worker exited during the broker outage"
    log = worker.log.read_text(errors="replace")
    assert "Connection to broker lost" in log  # the outage did reach it
    assert "Unrecoverable error" not in log


def test_the_worker_outlives_a_broker_outage_and_the_running_job_completes(jd, sandbox, broker, start_worker):
    slips = [slip_for(jd) for _ in range(100)]
    seed_applications(sandbox, slips)
    sandbox.set_faults(app_key=jd.app_key, latency_ms=100)
    worker = start_worker(limiter_on_broker=False)

    job = queue_job(broker, slips)
    stopped_at = outage_during(job, broker, worker)
    assert stopped_at < len(slips)  # Redis went away while the job was running

    wait_until("the job to finish", lambda: WritebackJob.objects.get(pk=job.pk).status == "done", 90, worker)
    job.refresh_from_db()
    assert (job.done, job.succeeded, job.failed) == (100, 100, 0)
    assert sent_once(sandbox, slips)
    assert_worker_survived(worker)

    # Back on Redis, it takes new work: the reconnect is real, not a process that only lingers.
    more = [slip_for(jd) for _ in range(3)]
    seed_applications(sandbox, more)
    second = queue_job(broker, more)
    wait_until("the worker to take a job after the outage", lambda: job_done(second) == 3, 60, worker)
    assert worker.poll() is None


def test_an_outage_of_the_limiters_redis_interrupts_the_job_which_keeps_its_slips_and_resumes(
    jd, sandbox, broker, start_worker
):
    slips = [slip_for(jd) for _ in range(150)]
    seed_applications(sandbox, slips)
    sandbox.set_faults(app_key=jd.app_key, latency_ms=100)
    worker = start_worker(limiter_on_broker=True)

    job = queue_job(broker, slips)
    outage_during(job, broker, worker, seconds=4)
    # No call to JD can start without the limiter: the job stops at the first chunk that got
    # nowhere, keeps those slips for its next run and leaves the others untouched.
    wait_until(
        "the job to stop", lambda: WritebackJob.objects.get(pk=job.pk).status == "interrupted", 60, worker
    )
    job.refresh_from_db()
    statuses = dict(
        RawRefund.objects.filter(pk__in=job.slip_ids).values_list("pk", "writeback_status").iterator()
    )
    failed = RawRefund.objects.filter(pk__in=job.slip_ids, writeback_status=WritebackStatus.FAILED)
    assert failed.exists() and list(statuses.values()).count(WritebackStatus.NOT_SENT) > 0
    assert all(
        m.endswith("本批量任务稍后自动重试") for m in failed.values_list("writeback_message", flat=True)
    )
    assert job.done == list(statuses.values()).count(WritebackStatus.SUCCEEDED) < len(slips)
    assert_worker_survived(worker)

    # What the recovery sweep queues once the lease has passed (the sweep itself: test_writeback_outage).
    send_job(broker, job)
    wait_until(
        "the resumed job to finish", lambda: WritebackJob.objects.get(pk=job.pk).status == "done", 90, worker
    )
    job.refresh_from_db()
    assert (job.done, job.succeeded, job.failed, job.resumed_count) == (150, 150, 0, 1)
    assert sent_once(sandbox, slips)
    assert worker.poll() is None
