"""A shop's JD authorisation: refresh the access token before it expires, authorise through JD's code
flow, and what a refused refresh does.

Each verb claims the shop under its row lock (a short transaction), calls JD outside any
transaction, then locks the row again to record the outcome with its event (who, when, why; never a
token). A refresh JD refuses marks the shop's credentials refused with the cause and what to do
(`orders.services.shop_mark_credentials_refused(refresh_refused=True)`): the platform sync and the
auto-writeback leave the shop alone, and its slips wait (未回传, or 回传失败 with a retry time) until
the shop is authorised again (去京东授权, 立即刷新授权 or pasted tokens); then they go.

JD's wire format is `platforms.jd.oauth`'s; nothing here knows a JD field name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.audit import record_event
from orders.locks import lock_shops
from orders.models import Shop
from orders.services import shop_mark_credentials_refused, shop_mark_credentials_working
from platforms.jd import oauth

logger = logging.getLogger(__name__)

SCHEDULE_ACTOR = "系统：授权刷新"
# A refresh in flight holds the shop this long; far beyond one call's timeout (JOS_TIMEOUT_SECONDS).
REFRESH_LEASE = timedelta(minutes=2)
TOKEN_FIELDS = [
    "access_token",
    "access_token_changed_at",
    "access_token_expires_at",
    "refresh_token",
    "refresh_token_changed_at",
    "refresh_token_expires_at",
    "token_refreshed_at",
    "token_refresh_claimed_at",
    "updated_at",
]


@dataclass(frozen=True)
class TokenOutcome:
    shop_id: int
    ok: bool
    message: str  # plain Chinese, for the page or the task's log; never a token
    refused: bool = False  # JD refused: the shop must be authorised again


def refresh_window() -> timedelta:
    return timedelta(hours=float(settings.JD_TOKEN_REFRESH_BEFORE_HOURS))


def shops_with_tokens_expiring(within: timedelta, now: datetime | None = None) -> list[Shop]:
    """Active shops that can be refreshed (app key, secret and refresh token set, JD has not refused
    already) whose access token expires within `within`, or within the last half of its life when
    that is shorter (a one-day token and a 24-hour window would otherwise be refreshed at every
    sweep), or whose expiry is not known (pasted without it: the refresh learns it). Soonest first."""
    now = now or timezone.now()
    candidates = (
        Shop.objects.filter(is_active=True, token_refresh_refused_at__isnull=True)
        .exclude(app_key="")
        .exclude(app_secret="")
        .exclude(refresh_token="")
        .filter(Q(access_token_expires_at__isnull=True) | Q(access_token_expires_at__lte=now + within))
        .order_by(F("access_token_expires_at").asc(nulls_first=True), "pk")
    )
    return [shop for shop in candidates if _due(shop, within, now)]


def _due(shop: Shop, within: timedelta, now: datetime) -> bool:
    expires, got = shop.access_token_expires_at, shop.access_token_changed_at
    if expires is None or got is None or got >= expires:
        return True
    return expires - now <= min(within, (expires - got) / 2)


def refresh_expiring_tokens(now: datetime | None = None) -> list[TokenOutcome]:
    """Beat's sweep: every shop whose token expires within JD_TOKEN_REFRESH_BEFORE_HOURS."""
    now = now or timezone.now()
    within = refresh_window()
    outcomes = []
    for shop in shops_with_tokens_expiring(within, now):
        if shop.access_token_expires_at:
            when = timezone.localtime(shop.access_token_expires_at).strftime("%Y-%m-%d %H:%M")
            why = f"定时刷新：Access Token 将于 {when} 到期（提前 {_hours(within)} 刷新）"
        else:
            why = "定时刷新：Access Token 到期时间未知，刷新以获知"
        outcomes.append(shop_refresh_token(shop, by=SCHEDULE_ACTOR, reason=why))
    return outcomes


# --- refresh ------------------------------------------------------------------------------------
def shop_refresh_token(shop: Shop, *, by, reason: str = "") -> TokenOutcome:
    """Refresh the shop's access token with its refresh token, now (立即刷新授权, or the sweep)."""
    shop_id = shop.pk
    now = timezone.now()
    with transaction.atomic():
        shop = lock_shops([shop_id]).first()
        if shop is None:
            return TokenOutcome(shop_id, False, "店铺不存在")
        missing = [
            label
            for name, label in (
                ("app_key", "App Key"),
                ("app_secret", "App Secret"),
                ("refresh_token", "Refresh Token"),
            )
            if not getattr(shop, name)
        ]
        if missing:
            return TokenOutcome(
                shop_id,
                False,
                f"无法刷新授权：店铺未设置 {'、'.join(missing)}。请点击「去京东授权」，或填写后保存。",
            )
        if shop.token_refresh_claimed_at and shop.token_refresh_claimed_at > now - REFRESH_LEASE:
            return TokenOutcome(shop_id, False, "该店铺正在刷新授权，请稍后刷新页面查看结果。")
        if shop.refresh_token_expires_at and shop.refresh_token_expires_at <= now:
            # JD said when the refresh token ends; asking again would only be refused.
            when = timezone.localtime(shop.refresh_token_expires_at).strftime("%Y-%m-%d %H:%M")
            message = f"京东拒绝刷新授权（refresh_token 已于 {when} 过期）：{oauth.REAUTHORISE_HINT}"
            _refused(shop, message, by=by, reason=reason)
            return TokenOutcome(shop_id, False, message, refused=True)
        shop.token_refresh_claimed_at = now
        shop.save(update_fields=["token_refresh_claimed_at"])
        app_key, app_secret, used = shop.app_key, shop.app_secret, shop.refresh_token
    grant = error = None
    try:
        grant = oauth.refresh(app_key, app_secret, used)
    except oauth.OAuthError as exc:
        error = exc
    except Exception:
        Shop.objects.filter(pk=shop_id, token_refresh_claimed_at=now).update(token_refresh_claimed_at=None)
        raise
    outcome = _record_refresh(shop_id, now, used, grant, error, by=by, reason=reason)
    logger.info(
        "token refresh shop_id=%s ok=%s refused=%s code=%s",
        shop_id,
        outcome.ok,
        outcome.refused,
        error and error.code,
    )
    return outcome


def _record_refresh(shop_id, claimed_at, used, grant, error, *, by, reason) -> TokenOutcome:
    with transaction.atomic():
        shop = lock_shops([shop_id]).get()
        ours = shop.token_refresh_claimed_at == claimed_at
        if ours:
            shop.token_refresh_claimed_at = None
            shop.save(update_fields=["token_refresh_claimed_at"])
        if not ours or shop.refresh_token != used:
            # Someone authorised the shop anew (or took the refresh over) while JD answered: their
            # tokens stand, and this answer (a grant or a refusal) is about tokens no longer in use.
            message = "刷新期间店铺授权已更新，本次刷新结果未采用。"
            record_event(shop, action="刷新授权", by=by, reason=_why(reason, message))
            return TokenOutcome(shop_id, False, message)
        if error is None:
            message = _store_grant(shop, grant, refreshed=True)
            record_event(shop, action="刷新授权", by=by, reason=_why(reason, message))
            return TokenOutcome(shop_id, True, message)
        if error.refused:
            _refused(shop, error.user_message, by=by, reason=reason)
            return TokenOutcome(shop_id, False, error.user_message, refused=True)
        # JD did not answer usably: nothing changes; the next sweep (or a person) tries again.
        record_event(shop, action="刷新授权失败", by=by, reason=_why(reason, error.user_message))
        return TokenOutcome(shop_id, False, error.user_message)


def _refused(shop, message, *, by, reason) -> None:
    shop_mark_credentials_refused(shop.pk, message=message, refresh_refused=True)
    record_event(shop, action="刷新授权失败", by=by, reason=_why(reason, message))


# --- JD's authorisation page (the code flow) ----------------------------------------------------
def shop_authorise_with_code(shop: Shop, *, code: str, by) -> TokenOutcome:
    """JD sent the merchant back with an authorisation code: exchange it and store the tokens."""
    shop = Shop.objects.filter(pk=shop.pk).first() or shop
    if not (shop.app_key and shop.app_secret):
        return TokenOutcome(shop.pk, False, "无法完成京东授权：店铺未设置 App Key 或 App Secret。")
    try:
        grant = oauth.exchange_code(shop.app_key, shop.app_secret, code)
    except oauth.OAuthError as error:
        message = error.user_message
        if error.refused:
            message = message.replace(oauth.REAUTHORISE_HINT, "请回到「店铺」页重新点击「去京东授权」")
        record_event(shop, action="京东授权失败", by=by, reason=message)
        return TokenOutcome(shop.pk, False, message, refused=error.refused)
    with transaction.atomic():
        shop = lock_shops([shop.pk]).get()
        message = _store_grant(shop, grant, refreshed=False)
        record_event(shop, action="京东授权", by=by, reason=message)
    return TokenOutcome(shop.pk, True, message)


# --- storing what JD granted ----------------------------------------------------------------------
def _store_grant(shop: Shop, grant: oauth.TokenGrant, *, refreshed: bool) -> str:
    """Write JD's grant onto the locked shop; returns what changed, in words (no token)."""
    now = timezone.now()
    shop.access_token = grant.access_token
    shop.access_token_changed_at = now
    shop.access_token_expires_at = grant.access_token_expires_at
    rotated = bool(grant.refresh_token) and grant.refresh_token != shop.refresh_token
    if rotated:
        shop.refresh_token = grant.refresh_token
        shop.refresh_token_changed_at = now
    if grant.refresh_token_expires_at is not None:
        shop.refresh_token_expires_at = grant.refresh_token_expires_at
    elif rotated:
        shop.refresh_token_expires_at = None  # a new refresh token whose end JD did not say
    if refreshed:
        shop.token_refreshed_at = now
    shop.token_refresh_claimed_at = None
    shop.save(update_fields=TOKEN_FIELDS)
    shop_mark_credentials_working([shop.pk], reauthorised=True)
    parts = ["已获得新的 Access Token"]
    if shop.access_token_expires_at:
        parts.append(f"有效期至 {timezone.localtime(shop.access_token_expires_at):%Y-%m-%d %H:%M}")
    else:
        parts.append("京东未返回有效期")
    if rotated:
        parts.append("Refresh Token 已更新")
    return "，".join(parts)


def _why(reason: str, message: str) -> str:
    return f"{reason}；{message}" if reason else message


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} 小时"
