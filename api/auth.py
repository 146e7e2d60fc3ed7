"""Bearer keys: `Authorization: Bearer erp_<lookup>_<secret>`.

The lookup part finds the row; the hash of the whole key is compared in constant time. A key that is
unknown, revoked or expired gets the same 401 shape with a reason that names no other shop."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from .models import KEY_PREFIX, ApiKey, hash_key

# last_used_at is written at most this often per key: not one UPDATE per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass
class ApiClient:
    """request.user for a key: not a Django user, never staff."""

    key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def shop(self):
        return self.key.shop

    def get_username(self) -> str:
        return self.key.actor_name

    def has_perm(self, perm, obj=None) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        if not raw.startswith(KEY_PREFIX) or raw.count("_") < 2:
            raise exceptions.AuthenticationFailed("API密钥格式不正确：应为 Authorization: Bearer erp_…")
        lookup = raw[len(KEY_PREFIX) :].split("_", 1)[0]
        key = ApiKey.objects.select_related("shop").filter(lookup=lookup).first()
        if key is None or not hmac.compare_digest(key.key_hash, hash_key(raw)):
            raise exceptions.AuthenticationFailed("API密钥无效")
        now = timezone.now()
        if key.revoked_at:
            raise exceptions.AuthenticationFailed("API密钥已吊销，请联系运营重新创建")
        if key.expires_at and key.expires_at <= now:
            raise exceptions.AuthenticationFailed("API密钥已过期，请联系运营重新创建")
        if not key.shop.is_active:
            raise exceptions.AuthenticationFailed("API密钥所属店铺已停用")
        if key.last_used_at is None or key.last_used_at + LAST_USED_RESOLUTION <= now:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return ApiClient(key), key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class HasApiKey(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class DocsAccess(permissions.BasePermission):
    """/api/schema/ and /api/docs/: open in development; in production only for a logged-in staff
    user (the back office's session) or a caller with a valid API key. The schema lists every
    endpoint and field: a map of the back office that need not be handed to anyone who asks."""

    message = "接口文档仅对已登录后台的员工或持有效 API密钥的调用方开放"

    def has_permission(self, request, view):
        if not settings.PRODUCTION:
            return True
        if isinstance(request.auth, ApiKey):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)
