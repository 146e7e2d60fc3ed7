"""The API key verbs, shared by the admin and the `create_api_key` command."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.audit import actor_name, record_event

from .models import ApiKey


class KeyRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def api_key_create(*, shop, name: str, by, expires_at=None, review_level: int = 0) -> tuple[ApiKey, str]:
    """A new key for `shop`; returns the row and the key itself (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise KeyRefused("请填写密钥名称（例如 wms）")
    if len(name) > ApiKey._meta.get_field("name").max_length:
        raise KeyRefused("密钥名称过长：最多 64 个字符")
    if review_level not in (0, 1, 2):
        raise KeyRefused(f"退款单审核级别须为 0、1 或 2（填写 {review_level}）")
    if expires_at is not None and expires_at <= timezone.now():
        raise KeyRefused("过期时间须晚于现在")
    if ApiKey.objects.filter(shop=shop, name=name).exists():
        raise KeyRefused(f"店铺 {shop.shop_no} 已有名为“{name}”的密钥，请换一个名称或先吊销旧密钥")
    raw, lookup, key_hash = ApiKey.generate()
    with transaction.atomic():
        key = ApiKey.objects.create(
            shop=shop,
            name=name,
            lookup=lookup,
            key_hash=key_hash,
            expires_at=expires_at,
            review_level=review_level,
            created_by_name=actor_name(by),
        )
        expiry = f"，{timezone.localtime(expires_at):%Y-%m-%d %H:%M} 过期" if expires_at else "，不过期"
        record_event(
            key,
            action="创建API密钥",
            by=by,
            reason=f"店铺 {shop.shop_no}，名称 {name}{expiry}，{key.get_review_level_display()}",
        )
    return key, raw


def api_key_revoke(key_id: int, *, by) -> ApiKey:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key_id)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.revoked_by_name = actor_name(by)
            key.save(update_fields=["revoked_at", "revoked_by_name"])
            record_event(
                key, action="吊销API密钥", by=by, field="state", from_state="有效", to_state="已吊销"
            )
    return key


def api_key_set_review_level(key_id: int, *, by, review_level: int) -> ApiKey:
    """Which refund-slip review the key may give (0: none, 1: level 1, 2: level 2)."""
    if review_level not in (0, 1, 2):
        raise KeyRefused(f"退款单审核级别须为 0、1 或 2（填写 {review_level}）")
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key_id)
        if key.review_level != review_level:
            before = key.get_review_level_display()
            key.review_level = review_level
            key.save(update_fields=["review_level"])
            record_event(
                key,
                action="修改退款单审核级别",
                by=by,
                field="review_level",
                from_state=before,
                to_state=key.get_review_level_display(),
            )
    return key
