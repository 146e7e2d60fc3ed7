"""Requests per key per minute, counted in the shared cache (Redis when REDIS_URL is set), so every
web process sees the same count.

A sliding window: the last full minute's count weighs by how much of it still lies within the last
60 seconds, plus this minute's count. Two counters per key, each an atomic increment, and no burst of
twice the limit at a minute's turn as a fixed window allows. A refused request is not counted: a
client that retries too fast is not kept out longer for it.

Every answer to a key carries the IETF draft headers (RateLimit-Limit, RateLimit-Remaining,
RateLimit-Reset: seconds until the quota is whole again); a 429 also Retry-After: seconds until one
more request will be accepted."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from .models import ApiKey

WINDOW = 60


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until nothing of the quota is used
    retry_after: int | None = None  # on a refusal: seconds until a request is accepted again

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.limit};w={WINDOW}",
        }
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _seconds(value: float) -> int:
    return max(0, math.ceil(value - 1e-9))


def quota(limit: int, previous: int, current: int, elapsed: float, refused: bool) -> Quota:
    """The quota after this request. `current` counts the requests accepted in this minute (this one
    included when accepted), `previous` those of the minute before, `elapsed` the seconds into this one."""
    weight = 1 - elapsed / WINDOW
    used = previous * weight + current
    remaining = max(0, math.floor(limit - used))
    # Nothing used any more: at the end of this minute when it has no requests, else of the next.
    reset = (WINDOW - elapsed) + (WINDOW if current else 0) if (previous or current) else 0
    retry_after = None
    if refused:
        room = limit - 1 - current  # what the previous minute's share must fall to for one more
        wait = None
        if previous and room >= 0:
            # Later in this minute: previous * (1 - (elapsed + t) / W) <= room.
            later = WINDOW * (1 - room / previous) - elapsed
            if later < WINDOW - elapsed:
                wait = later
        if wait is None:
            # In the next minute this minute's count is the one that fades: current * (1 - t / W) <= limit - 1.
            fade = WINDOW * (1 - (limit - 1) / current) if current > limit - 1 else 0.0
            wait = (WINDOW - elapsed) + fade
        retry_after = max(1, _seconds(wait))
    return Quota(limit, remaining, _seconds(reset), retry_after)


class ApiKeyThrottle(BaseThrottle):
    def allow_request(self, request, view):
        key = request.auth
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        if not isinstance(key, ApiKey) or limit <= 0:
            return True
        now = time.time()
        start = int(now // WINDOW) * WINDOW
        elapsed = now - start
        cache = caches[settings.API_THROTTLE_CACHE]
        current_key = f"api-throttle:{key.pk}:{start}"
        # Kept through the next minute, where it is the one that weighs.
        cache.add(current_key, 0, timeout=2 * WINDOW + 5)
        try:
            current = cache.incr(current_key)
        except ValueError:  # expired between add and incr
            cache.set(current_key, 1, timeout=2 * WINDOW + 5)
            current = 1
        previous = cache.get(f"api-throttle:{key.pk}:{start - WINDOW}", 0)
        refused = previous * (1 - elapsed / WINDOW) + current > limit
        if refused:
            try:
                current = cache.decr(current_key)
            except ValueError:
                current = 0
        request.api_quota = quota(limit, previous, current, elapsed, refused)
        return not refused

    def wait(self):
        return None  # the view reads request.api_quota (Retry-After and the RateLimit headers)
