"""JD's OAuth at JD's paths: the authorisation page, the code exchange and the token refresh.

- `GET /oauth2/to_login?app_key&response_type=code&redirect_uri&state&scope` shows the merchant a page
  (同意授权 / 拒绝); agreeing sends the browser to `redirect_uri?code=…&state=…`, refusing to
  `redirect_uri?error=access_denied&error_description=…&state=…`. A code works once, for 5 minutes.
- `GET|POST /oauth2/access_token?app_key&app_secret&grant_type=authorization_code&code` and
  `GET|POST /oauth2/refresh_token?app_key&app_secret&grant_type=refresh_token&refresh_token` answer
  JD's JSON: `{"access_token", "expires_in", "refresh_token", "refresh_token_expires", "scope",
  "open_id", "uid", "time", "token_type", "code": 0}`; a refusal is `{"code": <non-zero>, "msg",
  "requestId"}` with HTTP 200.

What the sandbox decides where JD's public material is silent (docs/sandbox.md, 京东授权与令牌刷新):
- a refresh issues a new access token and the old one stops working at once (the stricter reading:
  a client that copes with it copes with the lenient one); the refresh token stays the same until its
  own end (`refresh_token_expires`, milliseconds, as JD's answers carry it) or until revoked;
- an authorisation (code exchange) issues a new access token and a new refresh token;
- the refusal codes and words are the sandbox's own (REFUSALS).

A shop's OAuth state is `shop["oauth"]` (sandbox/state.py's shop record): refresh token, the two
expiries (epoch seconds, None = never), whether the refresh token is revoked, and the lifetime of the
access tokens it issues. Secrets never reach the call log or the control API's views.
"""

from __future__ import annotations

import hmac
import html
import secrets
import uuid
from urllib.parse import urlencode, urlsplit

from .jos import Reply, json_reply
from .records import InputError, as_int, as_text, need_dict

AUTHORIZE = "/oauth2/to_login"
ACCESS_TOKEN = "/oauth2/access_token"
REFRESH_TOKEN = "/oauth2/refresh_token"
PATHS = (AUTHORIZE, ACCESS_TOKEN, REFRESH_TOKEN)
CODE_LIFETIME_SECONDS = 300

# The sandbox's own refusal codes and words (JD's are not in any public source we read).
REFUSALS = {
    "app_key": (1001, "app_key无效"),
    "app_secret": (1002, "app_secret错误"),
    "grant_type": (1003, "grant_type无效"),
    "code": (1004, "code无效或已过期"),
    "refresh_token": (1005, "refresh_token无效"),
    "refresh_expired": (1006, "refresh_token已过期"),
    "revoked": (1007, "授权已失效，请重新授权"),
}


# --- a shop's OAuth state (created by sandbox/state.py's `shop_oauth`) ---------------------------
def access_token_expired(shop: dict, now: float) -> bool:
    expires = shop.get("oauth", {}).get("access_expires_at")
    return expires is not None and now >= expires


def token_view(state, shop: dict) -> dict:
    """What the control API shows of a shop's tokens: expiries and flags, never the tokens."""
    oauth = shop["oauth"]

    def moment(epoch):
        return None if epoch is None else state.now_ts(epoch)

    now = state.clock()
    return {
        "app_key": shop["app_key"],
        "access_token_expires_at": moment(oauth["access_expires_at"]),
        "access_token_expired": access_token_expired(shop, now),
        "has_refresh_token": bool(oauth["refresh_token"]),
        "refresh_token_expires_at": moment(oauth["refresh_expires_at"]),
        "refresh_token_revoked": oauth["revoked"],
        "token_lifetime_seconds": oauth["lifetime"],
    }


CONTROL_FIELDS = {
    "expire_access_token",
    "access_token_expires_in",
    "revoke_refresh_token",
    "refresh_token",
    "refresh_token_expires_in",
    "token_lifetime_seconds",
}


def control_token(state, app_key: str, body) -> dict:
    """POST /_sandbox/shops/<app_key>/token: expire the access token, revoke or expire the refresh
    token, give the shop a refresh token, or change the lifetime of the tokens it will issue."""
    body = need_dict(body, "body")
    unknown = set(body) - CONTROL_FIELDS
    if unknown:
        raise InputError(
            f"body.{sorted(unknown)[0]}", f"unknown field (known: {', '.join(sorted(CONTROL_FIELDS))})"
        )
    with state.lock:
        shop = state._shop_or_error(app_key)
        oauth = shop["oauth"]
        now = state.clock()
        if body.get("expire_access_token"):
            oauth["access_expires_at"] = now
        if "access_token_expires_in" in body:
            oauth["access_expires_at"] = now + as_int(
                body["access_token_expires_in"], "access_token_expires_in"
            )
        if "refresh_token" in body:
            oauth["refresh_token"] = as_text(body["refresh_token"], "refresh_token") or None
            oauth["revoked"] = False
        if "refresh_token_expires_in" in body:
            oauth["refresh_expires_at"] = now + as_int(
                body["refresh_token_expires_in"], "refresh_token_expires_in"
            )
        if body.get("revoke_refresh_token"):
            oauth["revoked"] = True
        if "token_lifetime_seconds" in body:
            oauth["lifetime"] = as_int(body["token_lifetime_seconds"], "token_lifetime_seconds", low=1)
        return token_view(state, shop)


# --- the endpoints ------------------------------------------------------------------------------
def handle(state, verb: str, path: str, params: dict[str, str]) -> Reply:
    state.promote_due()
    if path == AUTHORIZE:
        return _authorize(state, verb, params)
    if verb not in ("GET", "POST"):
        return json_reply({"error": f"method {verb} not allowed on {path}"}, 405)
    if path == ACCESS_TOKEN:
        return _access_token(state, params)
    return _refresh_token(state, params)


def _refusal(state, kind: str, app_key, generation, call: str) -> Reply:
    code, msg = REFUSALS[kind]
    _record(state, call, app_key, generation, code=str(code), success=False)
    reply = json_reply({"code": code, "msg": msg, "requestId": uuid.uuid4().hex})
    reply.note = f"{call} {app_key} code={code}"
    return reply


def _record(state, call: str, app_key, generation, **outcome) -> None:
    # The call log keeps the endpoint and the app only: every other parameter here is a secret.
    state.record_call({"method": call, "app_key": app_key, "params": {}, **outcome}, generation)


def _client_shop(state, params: dict, grant_type: str, call: str, generation):
    """JD's checks on the app (key, secret) and the grant type: (shop, None) or (None, refusal)."""
    app_key = params.get("app_key") or None
    shop = state.shop(app_key) if app_key else None
    if shop is None:
        return None, _refusal(state, "app_key", app_key, generation, call)
    secret = params.get("app_secret") or ""
    if not hmac.compare_digest(secret.encode(), shop["app_secret"].encode()):
        return None, _refusal(state, "app_secret", app_key, generation, call)
    if params.get("grant_type") != grant_type:
        return None, _refusal(state, "grant_type", app_key, generation, call)
    return shop, None


def _grant(state, shop: dict, *, new_refresh_token: bool) -> dict:
    """Issue a new access token (the old one stops working now); under state.lock."""
    oauth = shop["oauth"]
    now = state.clock()
    shop["access_token"] = f"sbx-at-{secrets.token_hex(16)}"
    oauth["access_expires_at"] = now + oauth["lifetime"]
    if new_refresh_token:
        oauth["refresh_token"] = f"sbx-rt-{secrets.token_hex(16)}"
        oauth["revoked"] = False
        oauth["refresh_expires_at"] = now + 365 * 86400
    answer = {
        "access_token": shop["access_token"],
        "expires_in": oauth["lifetime"],
        "refresh_token": oauth["refresh_token"],
        "scope": "snsapi_base",
        "open_id": oauth["open_id"],
        "uid": oauth["uid"],
        "time": int(now * 1000),
        "token_type": "bearer",
        "code": 0,
    }
    if oauth["refresh_expires_at"] is not None:
        answer["refresh_token_expires"] = int(oauth["refresh_expires_at"] * 1000)
    return answer


def _access_token(state, params: dict) -> Reply:
    call, generation = "oauth2.access_token", state.generation
    shop, refusal = _client_shop(state, params, "authorization_code", call, generation)
    if refusal:
        return refusal
    app_key = shop["app_key"]
    with state.lock:
        issued = state.oauth_codes.pop(params.get("code") or "", None)
        if issued is None or issued["app_key"] != app_key or issued["expires_at"] <= state.clock():
            return _refusal(state, "code", app_key, generation, call)
        answer = _grant(state, shop, new_refresh_token=True)
    _record(state, call, app_key, generation, code="0", success=True)
    reply = json_reply(answer)
    reply.note = f"{call} {app_key} code=0"
    return reply


def _refresh_token(state, params: dict) -> Reply:
    call, generation = "oauth2.refresh_token", state.generation
    shop, refusal = _client_shop(state, params, "refresh_token", call, generation)
    if refusal:
        return refusal
    app_key = shop["app_key"]
    with state.lock:
        oauth = shop["oauth"]
        sent = (params.get("refresh_token") or "").encode()
        if not oauth["refresh_token"] or not hmac.compare_digest(sent, oauth["refresh_token"].encode()):
            return _refusal(state, "refresh_token", app_key, generation, call)
        if oauth["revoked"]:
            return _refusal(state, "revoked", app_key, generation, call)
        if oauth["refresh_expires_at"] is not None and state.clock() >= oauth["refresh_expires_at"]:
            return _refusal(state, "refresh_expired", app_key, generation, call)
        answer = _grant(state, shop, new_refresh_token=False)
    _record(state, call, app_key, generation, code="0", success=True)
    reply = json_reply(answer)
    reply.note = f"{call} {app_key} code=0"
    return reply


# --- the authorisation page ---------------------------------------------------------------------
def _page(title: str, body: str, status: int = 200) -> Reply:
    document = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Reply(status, document.encode(), "text/html;charset=utf-8")


def _authorize(state, verb: str, params: dict) -> Reply:
    app_key = params.get("app_key") or ""
    shop = state.shop(app_key) if app_key else None
    redirect_uri = params.get("redirect_uri") or ""
    problem = None
    if shop is None:
        problem = "app_key无效"
    elif params.get("response_type") != "code":
        problem = "response_type必须为code"
    elif urlsplit(redirect_uri).scheme not in ("http", "https") or not urlsplit(redirect_uri).netloc:
        problem = "redirect_uri无效"
    if problem:
        return _page("授权失败", f"<p id='oauth-error'>{html.escape(problem)}</p>", 400)
    if verb == "GET":
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params.get(name) or "", quote=True)}">'
            for name in ("app_key", "response_type", "redirect_uri", "state", "scope")
        )
        body = (
            f"<p>应用（app_key {html.escape(app_key)}）请求访问店铺「{html.escape(shop['name'])}」的数据。</p>"
            f'<form method="post" action="{AUTHORIZE}">{hidden}'
            '<button type="submit" name="decision" value="approve" id="approve">同意授权</button> '
            '<button type="submit" name="decision" value="deny" id="deny">拒绝</button></form>'
            "<p>SA 沙箱：这一页代替京东的登录与授权页。</p>"
        )
        return _page("京东授权（沙箱）", body)
    if verb != "POST":
        return json_reply({"error": f"method {verb} not allowed on {AUTHORIZE}"}, 405)
    back = {"state": params.get("state") or ""}
    if params.get("decision") == "approve":
        code = secrets.token_urlsafe(12)
        with state.lock:
            state.oauth_codes[code] = {
                "app_key": app_key,
                "expires_at": state.clock() + CODE_LIFETIME_SECONDS,
            }
        back = {"code": code, **back}
    else:
        back = {"error": "access_denied", "error_description": "用户拒绝授权", **back}
    location = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(back)
    reply = Reply(302, b"", "text/plain;charset=utf-8", note=f"oauth2.to_login {app_key}")
    reply.headers["Location"] = location
    return reply
