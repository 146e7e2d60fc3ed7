"""Requests per key per minute, counted in the shared cache (Redis when REDIS_URL is set), so every
web process sees the same count. A fixed one-minute window with an atomic increment."""

import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from .models import ApiKey


class ApiKeyThrottle(BaseThrottle):
    window = 60

    def allow_request(self, request, view):
        key = request.auth
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        if not isinstance(key, ApiKey) or limit <= 0:
            return True
        now = time.time()
        window_start = int(now // self.window) * self.window
        cache_key = f"api-throttle:{key.pk}:{window_start}"
        cache = caches[settings.API_THROTTLE_CACHE]
        cache.add(cache_key, 0, timeout=self.window + 5)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, timeout=self.window + 5)
            count = 1
        self._wait = window_start + self.window - now
        return count <= limit

    def wait(self):
        return max(1, int(self._wait + 0.999))
