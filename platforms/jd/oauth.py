"""JD's OAuth (京东授权): the authorize page, the code exchange and the token refresh.

    url = authorize_url(app_key, redirect_uri, state)        # the merchant's browser goes there
    grant = exchange_code(app_key, app_secret, code)          # JD redirected back with ?code=&state=
    grant = refresh(app_key, app_secret, refresh_token)       # before the access token expires

The three endpoints live under `settings.JD_OAUTH_ENDPOINT` (JD: https://open-oauth.jd.com; in
development and tests the SA sandbox, which serves the same paths):
- `GET /oauth2/to_login?app_key&response_type=code&redirect_uri&state&scope=snsapi_base`
- `GET /oauth2/access_token?app_key&app_secret&grant_type=authorization_code&code`
- `GET /oauth2/refresh_token?app_key&app_secret&grant_type=refresh_token&refresh_token`
JD answers JSON: `{"access_token", "expires_in" (seconds), "refresh_token", "scope", "open_id", "uid",
"time" (milliseconds), "token_type", "code": 0, …}`, and `refresh_token_expires` (milliseconds) in some
answers; a refusal is `{"code": <non-zero>, "msg", "requestId"}`. Shapes and their public sources:
docs/sandbox.md, "京东授权与令牌刷新".

Errors are `OAuthError`s whose `kind` tells the caller what to do: REFUSED (JD said no: the shop must
be authorised again), UNAVAILABLE (JD did not answer usably: try again later), CONFIGURATION (our
endpoint setting is wrong). Nothing here logs or raises a secret: the query string (app_secret,
refresh_token, code) is never logged, and JD's words are scrubbed of the values sent.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

AUTHORIZE_PATH = "/oauth2/to_login"
ACCESS_TOKEN_PATH = "/oauth2/access_token"
REFRESH_TOKEN_PATH = "/oauth2/refresh_token"
SCOPE = "snsapi_base"
MAX_ANSWER_BYTES = 64 * 1024  # a token answer is a few hundred bytes
CONNECT_TIMEOUT = 3.0
# JD's `time` is trusted to date a grant only when it is this close to our clock; otherwise the
# moment the answer arrived dates it (a later moment: the expiry is then a little early, never late).
MAX_CLOCK_SKEW = timedelta(hours=1)

REAUTHORISE_HINT = "请运营在「店铺」页点击「去京东授权」重新授权"


class OAuthError(Exception):
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    CONFIGURATION = "configuration"

    def __init__(self, kind: str, user_message: str, *, code: str = "", jd_message: str = ""):
        super().__init__(user_message)
        self.kind = kind
        self.user_message = user_message
        self.code = code
        self.jd_message = jd_message

    @property
    def refused(self) -> bool:
        return self.kind == self.REFUSED

    @property
    def retryable(self) -> bool:
        return self.kind == self.UNAVAILABLE

    def __str__(self) -> str:
        return self.user_message

    def __repr__(self) -> str:
        return f"OAuthError(kind={self.kind!r}, code={self.code!r}, user_message={self.user_message!r})"


@dataclass(frozen=True)
class TokenGrant:
    """What JD granted. `refresh_token` is "" when JD's answer carried none (the old one stays)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    issued_at: datetime
    access_token_expires_at: datetime | None
    refresh_token_expires_at: datetime | None
    scope: str = ""
    open_id: str = ""
    uid: str = ""


def endpoint() -> str:
    return settings.JD_OAUTH_ENDPOINT.rstrip("/")


def authorize_url(app_key: str, redirect_uri: str, state: str) -> str:
    """JD's authorisation page for this app; JD sends the browser back to `redirect_uri` with
    `?code=…&state=…` once the merchant agreed."""
    query = {
        "app_key": app_key,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": SCOPE,
    }
    return f"{endpoint()}{AUTHORIZE_PATH}?{urlencode(query)}"


def exchange_code(
    app_key: str, app_secret: str, code: str, *, http: httpx.Client | None = None
) -> TokenGrant:
    params = {
        "app_key": app_key,
        "app_secret": app_secret,
        "grant_type": "authorization_code",
        "code": code,
    }
    return _token_call(ACCESS_TOKEN_PATH, params, secrets=(app_secret, code), verb="换取令牌", http=http)


def refresh(
    app_key: str, app_secret: str, refresh_token: str, *, http: httpx.Client | None = None
) -> TokenGrant:
    params = {
        "app_key": app_key,
        "app_secret": app_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return _token_call(
        REFRESH_TOKEN_PATH, params, secrets=(app_secret, refresh_token), verb="刷新授权", http=http
    )


# --- the call -----------------------------------------------------------------------------------
def _token_call(path: str, params: dict, *, secrets, verb: str, http) -> TokenGrant:
    started = time.monotonic()
    outcome = "ok"
    try:
        body = _get(path, params, http)
        return parse_grant(body, secrets=secrets, verb=verb)
    except OAuthError as error:
        outcome = f"{error.kind}:{error.code}"
        raise
    finally:
        # The path and app_key only: the query holds the secret and the token.
        logger.info(
            "jd oauth path=%s app_key=%s outcome=%s elapsed_ms=%d",
            path,
            params.get("app_key", ""),
            outcome,
            int((time.monotonic() - started) * 1000),
        )


def _get(path: str, params: dict, http: httpx.Client | None):
    url = endpoint() + path
    timeout = httpx.Timeout(float(settings.JOS_TIMEOUT_SECONDS), connect=CONNECT_TIMEOUT)
    own = http is None
    client = http or httpx.Client(headers={"User-Agent": "erp-aftersales-oauth/1.0"})
    try:
        with client.stream("GET", url, params=params, timeout=timeout) as response:
            status = response.status_code
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > MAX_ANSWER_BYTES:
                    raise OAuthError(
                        OAuthError.UNAVAILABLE, "京东授权服务返回内容过大，稍后自动重试", code="TOO_LARGE"
                    )
    except httpx.TimeoutException:
        # `from None`: httpx's exception carries the request, whose URL holds the secrets.
        raise OAuthError(
            OAuthError.UNAVAILABLE, "连接京东授权服务超时，稍后自动重试", code="TIMEOUT"
        ) from None
    except httpx.TransportError:
        raise OAuthError(
            OAuthError.UNAVAILABLE,
            "无法连接京东授权服务（连接被拒绝或中断），稍后自动重试",
            code="CONNECTION",
        ) from None
    finally:
        if own:
            client.close()
    try:
        body = json.loads(bytes(content))
    except ValueError:
        body = None
    if status >= 500 or status == 429:
        raise OAuthError(
            OAuthError.UNAVAILABLE,
            f"京东授权服务暂时不可用（HTTP {status}），稍后自动重试",
            code=f"HTTP_{status}",
        )
    if status >= 300 and not (isinstance(body, dict) and "code" in body):
        # Not JD's refusal (that comes as JSON with a code): we are calling the wrong address.
        raise OAuthError(
            OAuthError.CONFIGURATION,
            f"京东授权服务返回 HTTP {status}，请管理员检查京东授权地址配置（JD_OAUTH_ENDPOINT）",
            code=f"HTTP_{status}",
        )
    if not isinstance(body, dict):
        raise OAuthError(
            OAuthError.UNAVAILABLE, "京东授权服务返回了无法识别的内容，稍后自动重试", code="PROTOCOL"
        )
    return body


def parse_grant(body: dict, *, secrets=(), verb: str = "刷新授权", now: datetime | None = None) -> TokenGrant:
    """JD's JSON answer → TokenGrant, or OAuthError(REFUSED) with JD's words (scrubbed of `secrets`)."""
    now = now or datetime.now(tz=UTC)
    code = body.get("code")
    code_text = "" if code is None else str(code).strip()
    token = body.get("access_token")
    if code_text not in ("", "0") or not isinstance(token, str) or not token:
        if code_text in ("", "0"):
            # A success code without a token is no grant JD could have meant: try again later.
            raise OAuthError(
                OAuthError.UNAVAILABLE, "京东授权服务的返回缺少 access_token，稍后自动重试", code="PROTOCOL"
            )
        words = _scrub(
            str(body.get("msg") or body.get("message") or body.get("error_description") or ""), secrets
        )
        words = words.strip()[:100]
        reason = f"京东返回：{words}，错误码 {code_text}" if words else f"错误码 {code_text}"
        raise OAuthError(
            OAuthError.REFUSED,
            f"京东拒绝{verb}（{reason}）：{REAUTHORISE_HINT}",
            code=code_text,
            jd_message=words,
        )
    issued = _moment_ms(body.get("time"))
    if issued is None or abs(issued - now) > MAX_CLOCK_SKEW:
        issued = now
    expires_in = _number(body.get("expires_in"))
    refresh_expires = _moment_ms(body.get("refresh_token_expires"))
    refresh_token = body.get("refresh_token")
    return TokenGrant(
        access_token=token,
        refresh_token=refresh_token if isinstance(refresh_token, str) else "",
        issued_at=issued,
        access_token_expires_at=issued + timedelta(seconds=expires_in) if expires_in else None,
        refresh_token_expires_at=refresh_expires,
        scope=str(body.get("scope") or ""),
        open_id=str(body.get("open_id") or ""),
        uid=str(body.get("uid") or ""),
    )


def _number(value) -> int | None:
    """JD's numbers may come as strings."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _moment_ms(value) -> datetime | None:
    millis = _number(value)
    if millis is None:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _scrub(text: str, secrets) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
