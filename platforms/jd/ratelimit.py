"""Per-app_key JOS call limit, shared by every process that calls JD (web, worker, beat).

Guarantee (both backends): for one app_key, at most N `acquire()` calls return within any sliding
1-second window, i.e. no half-open interval [t, t + 1 s) holds more than N grants, N being
`settings.JOS_RATE_LIMIT_PER_SECOND` read at each call (0 or less disables the limit). Grants are
stamped with one clock shared by all participants: the machine's clock (file backend) or the Redis
server's clock (Redis backend, so a cluster of machines with drifting clocks still agrees).

- `RedisRateLimiter` (when `settings.REDIS_URL` is set): a sorted set of grant times per app_key,
  trimmed, counted and appended in one Lua script, so the check-and-take is atomic cluster-wide.
- `FileRateLimiter` (the embedded default): one file per app_key under VAR_DIR/ratelimit holding the
  recent grant times, read-modify-written under `fcntl.flock`. Covers the processes of one machine.

A full window makes `acquire()` sleep until its oldest grant leaves the window, then try again: no
busy-spinning, and fairness is whatever the OS gives; good enough for a handful of processes.
When Redis is unreachable `acquire()` raises `JosRateLimiterError` (retryable): no JOS call is made.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from platforms.jd.errors import JosRateLimiterError

WINDOW_SECONDS = 1.0
# Never sleep less than this: a wait rounded to zero would spin on the lock.
MIN_SLEEP = 0.001


class RateLimiter:
    def __init__(self, limit_per_second: int | None = None, *, sleep: Callable[[float], None] = time.sleep):
        self._limit = limit_per_second
        self.sleep = sleep

    @property
    def limit(self) -> int:
        # Read at call time so settings overrides (tests, ops) take effect without a restart.
        if self._limit is not None:
            return int(self._limit)
        return int(settings.JOS_RATE_LIMIT_PER_SECOND)

    def acquire(self, app_key: str) -> float:
        """Block until a call for `app_key` may start; return the grant time (epoch seconds)."""
        while True:
            limit = self.limit
            if limit <= 0:
                return time.time()
            granted, value = self._try_acquire(app_key, limit)
            if granted:
                return value
            self.sleep(max(value, MIN_SLEEP))

    def _try_acquire(self, app_key: str, limit: int) -> tuple[bool, float]:
        """(True, grant time) or (False, seconds until a slot frees up)."""
        raise NotImplementedError


class FileRateLimiter(RateLimiter):
    def __init__(self, directory: Path | str | None = None, limit_per_second: int | None = None, **kwargs):
        super().__init__(limit_per_second, **kwargs)
        self.directory = Path(directory) if directory is not None else Path(settings.VAR_DIR) / "ratelimit"

    def path_for(self, app_key: str) -> Path:
        name = app_key if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", app_key or "") else None
        name = name or "k-" + hashlib.sha256((app_key or "").encode()).hexdigest()[:32]
        return self.directory / f"{name}.times"

    def _try_acquire(self, app_key: str, limit: int) -> tuple[bool, float]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path_for(app_key), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = round(time.time(), 6)  # what is stored is exactly what is returned
            recent = [
                t for t in _parse_times(_read_all(fd)) if now - WINDOW_SECONDS < t <= now + WINDOW_SECONDS
            ]
            # Entries "from the future" (the clock was set back) still count, but only for one window.
            recent.sort()
            if len(recent) >= limit:
                return False, recent[-limit] + WINDOW_SECONDS - now
            recent.append(now)
            data = "".join(f"{t:.6f}\n" for t in recent[-limit:]).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, data)
            os.ftruncate(fd, len(data))
            return True, now
        finally:
            os.close(fd)  # closing releases the flock


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_times(data: bytes) -> list[float]:
    times = []
    for line in data.split(b"\n"):
        try:
            times.append(float(line))
        except ValueError:
            continue  # a torn write after a crash: forget that entry
    return times


# KEYS[1] the app_key's sorted set; ARGV: limit, window (µs), unique member.
# Returns {1, grant time µs} or {0, µs until the oldest grant in the window expires}.
_SLIDING_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""


class RedisRateLimiter(RateLimiter):
    key_prefix = "erp_aftersales:jos:ratelimit:"

    def __init__(self, url: str | None = None, limit_per_second: int | None = None, **kwargs):
        import redis

        super().__init__(limit_per_second, **kwargs)
        self.redis = redis.Redis.from_url(url or settings.REDIS_URL)
        self._script = self.redis.register_script(_SLIDING_WINDOW_LUA)

    def _try_acquire(self, app_key: str, limit: int) -> tuple[bool, float]:
        import redis

        try:
            granted, value = self._script(
                keys=[self.key_prefix + app_key],
                args=[limit, int(WINDOW_SECONDS * 1_000_000), uuid.uuid4().hex],
            )
        except redis.RedisError as exc:
            raise JosRateLimiterError() from exc
        return bool(granted), int(value) / 1_000_000


_limiter: RateLimiter | None = None
_limiter_config: tuple | None = None


def get_rate_limiter() -> RateLimiter:
    """The process's limiter: Redis when REDIS_URL is set, else the file lock under VAR_DIR."""
    global _limiter, _limiter_config
    config = (settings.REDIS_URL, str(settings.VAR_DIR))
    if _limiter is None or _limiter_config != config:
        redis_url, var_dir = config
        _limiter = RedisRateLimiter(redis_url) if redis_url else FileRateLimiter(Path(var_dir) / "ratelimit")
        _limiter_config = config
    return _limiter
