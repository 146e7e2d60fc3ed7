"""The shared JOS rate limit, across real OS processes, for the file and the Redis backend.

Guarantee under test (see platforms.jd.ratelimit): for one app_key, no half-open 1-second window holds
more than N grants, over the merged timeline of every process.
"""

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from platforms.jd import ratelimit
from platforms.jd.ratelimit import FileRateLimiter, RedisRateLimiter, get_rate_limiter

REPO = Path(__file__).resolve().parents[3]
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"
LIMIT = 5
CALLS_PER_PROCESS = 15

# Each child builds its own limiter (no Django settings needed: everything is passed explicitly),
# then records (asked, grant time, time.time() after acquire) per call. Both start on a go line
# rather than at a time on the clock, so a slow import cannot make one child start late.
CHILD = """
import json, sys, time
from platforms.jd.ratelimit import FileRateLimiter, RedisRateLimiter
backend, location, app_key, calls, limit = sys.argv[1:6]
cls = FileRateLimiter if backend == "file" else RedisRateLimiter
limiter = cls(location, int(limit))
print("ready", flush=True)
sys.stdin.readline()
stamps = []
for _ in range(int(calls)):
    asked = time.time()
    granted = limiter.acquire(app_key)
    stamps.append((asked, granted, time.time()))
print(json.dumps(stamps))
"""


def redis_or_skip():
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis 不可达（{REDIS_TEST_URL}）：{exc}；Redis 后端的限流测试跳过")
    return client


@pytest.fixture(params=["file", "redis"])
def backend(request, tmp_path):
    """(name, location, app_key): a fresh app_key so runs never share state."""
    app_key = f"RLTEST{uuid.uuid4().hex[:12]}"
    if request.param == "file":
        yield "file", str(tmp_path / "ratelimit"), app_key
    else:
        client = redis_or_skip()
        yield "redis", REDIS_TEST_URL, app_key
        client.delete(RedisRateLimiter.key_prefix + app_key)


def make_limiter(name, location, limit, **kwargs):
    cls = FileRateLimiter if name == "file" else RedisRateLimiter
    return cls(location, limit, **kwargs)


def max_in_any_window(times, width):
    """The most grants in any half-open window [t, t + width)."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + width:
            j += 1
        best = max(best, j - i)
    return best


def test_two_processes_share_one_limit(backend):
    name, location, app_key = backend
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, name, location, app_key, *map(str, (CALLS_PER_PROCESS, LIMIT))],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        if child.stdout.readline() != "ready\n":
            pytest.fail(child.communicate(timeout=30)[1])
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        results.append(json.loads(out))

    granted = [g for stamps in results for _, g, _ in stamps]
    assert len(granted) == 2 * CALLS_PER_PROCESS

    # The guarantee, on the limiter's own grant times (1 µs for float rounding).
    assert max_in_any_window(granted, 1.0 - 1e-6) <= LIMIT
    # The grant time is a real moment inside the caller's acquire() (6-decimal rounding aside), not a
    # story. How long the caller then took to read its clock is the scheduler's business: a bound on
    # it (this test once said 100 ms) is not the limiter's guarantee and a loaded machine can break it.
    stamps = [stamp for child_stamps in results for stamp in child_stamps]
    assert all(asked - 1e-6 <= g <= after + 1e-6 for asked, g, after in stamps)
    # Shared, not per process: 30 grants at 5 per second need at least 5 seconds end to end
    # (two private limits would finish in about 2), and nobody waited a whole extra window per grant.
    span = max(granted) - min(granted)
    assert 5.0 - 1e-6 <= span < 12.0
    # ... and those 5 seconds are the two contending, not one running after the other: each was
    # already asking before the other's last grant. Who gets which slot is not part of the
    # guarantee: whichever process wakes first when a window frees takes every freed slot, so one
    # process can take its 15 grants in the first three seconds and leave the rest to the other.
    for mine, other in ((results[0], results[1]), (results[1], results[0])):
        assert min(asked for asked, _, _ in mine) < max(g for _, g, _ in other)


def test_different_app_keys_do_not_throttle_each_other(backend):
    name, location, app_key = backend
    sleeps = []
    limiter = make_limiter(name, location, LIMIT, sleep=lambda s: (sleeps.append(s), time.sleep(s)))
    other_key = app_key + "B"
    for _ in range(LIMIT):
        limiter.acquire(app_key)
    for _ in range(LIMIT):
        limiter.acquire(other_key)
    assert sleeps == []
    if name == "redis":
        limiter.redis.delete(RedisRateLimiter.key_prefix + other_key)


def test_a_full_window_sleeps_until_a_slot_frees_instead_of_spinning(backend):
    name, location, app_key = backend
    sleeps = []
    limiter = make_limiter(name, location, 2, sleep=lambda s: (sleeps.append(s), time.sleep(s)))
    first = limiter.acquire(app_key)
    limiter.acquire(app_key)
    third = limiter.acquire(app_key)
    assert third - first >= 1.0 - 1e-6
    # One sleep of about the rest of the window (a second one only if woken a hair early).
    assert 1 <= len(sleeps) <= 2
    assert 0.5 < sleeps[0] <= 1.0


def test_limit_is_read_from_settings_at_call_time(settings, tmp_path):
    settings.JOS_RATE_LIMIT_PER_SECOND = 1
    sleeps = []
    limiter = FileRateLimiter(tmp_path, sleep=lambda s: (sleeps.append(s), time.sleep(s)))
    limiter.acquire("K")
    settings.JOS_RATE_LIMIT_PER_SECOND = 3
    limiter.acquire("K")
    limiter.acquire("K")
    assert sleeps == []
    settings.JOS_RATE_LIMIT_PER_SECOND = 0  # 0 switches the limit off
    for _ in range(10):
        limiter.acquire("K")
    assert sleeps == []


def test_get_rate_limiter_follows_redis_url(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(ratelimit, "_limiter", None)  # restored afterwards, whatever happens
    settings.REDIS_URL = ""
    settings.VAR_DIR = tmp_path
    limiter = get_rate_limiter()
    assert isinstance(limiter, FileRateLimiter) and limiter.directory == tmp_path / "ratelimit"
    assert get_rate_limiter() is limiter
    settings.REDIS_URL = REDIS_TEST_URL
    assert isinstance(get_rate_limiter(), RedisRateLimiter)


def test_unreachable_redis_is_a_retryable_error_not_a_crash():
    from platforms.jd.errors import JosRateLimiterError

    limiter = RedisRateLimiter("redis://127.0.0.1:1/15", 5)
    with pytest.raises(JosRateLimiterError) as caught:
        limiter.acquire("K")
    assert caught.value.retryable and "Redis" in caught.value.user_message
