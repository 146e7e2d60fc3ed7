"""The JOS client: sign, rate-limit, POST, parse the envelope, retry the reads retrying can fix.

    client = JosClient.for_shop(shop)
    payload = client.call("jingdong.pop.afs.soa.refundapply.queryPageList", {"ids": "1"})
    result = check_business_result(payload, "queryResult")
    client.last_call     # {"method", "attempts", "elapsed_ms", "outcome"}: store it with the call
    client.last_request  # redact(...) of the last attempt: safe to store

Reads (READ_METHODS) are retried on timeouts, HTTP 5xx, JD's codes 2 and 65 and, once, an unreadable
answer. **A write is never retried inside a call** (any method not known to be a read is a write):
a write whose answer is lost after the request may have reached JD (a timeout or a reset after
sending, HTTP 5xx, code 65, an unreadable answer) raises with `outcome_unknown=True`; one that never
left (the rate limiter down, the connection refused) raises with it False. The caller reads JD before
writing again.

Errors are `platforms.jd.errors.JosError` subclasses; read `retryable`, `credential_problem` and
`outcome_unknown`. Logs carry method, app_key, attempt, outcome and elapsed time, never app_secret,
access_token or sign.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping

import httpx
from django.conf import settings

from platforms.jd import signing
from platforms.jd.errors import (
    JosBusinessError,
    JosConfigurationError,
    JosError,
    JosPlatformTimeoutError,
    JosProtocolError,
    JosResponseTooLargeError,
    JosTransportError,
    error_from_response,
)
from platforms.jd.ratelimit import RateLimiter, get_rate_limiter

logger = logging.getLogger(__name__)

BUSINESS_PARAMS = "360buy_param_json"
CONNECT_TIMEOUT = 3.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
SECRET_PARAMS = frozenset({"access_token", "app_secret", "sign", "appSecret", "accessToken"})
# The methods that only read: the only ones retried inside a call.
READ_METHODS = frozenset(
    {
        "jingdong.pop.order.search",
        "jingdong.pop.afs.soa.refundapply.queryPageList",
        "jingdong.pop.afs.soa.refundapply.queryById",
    }
)
# The request may have reached JD: the outcome is not known, and the write is not repeated blind.
UNKNOWN = "请求可能已到达京东，结果未知，未重发（系统稍后先向京东核对再处理）"

# --- one pooled HTTP client per process ---------------------------------------------------------
_http_client: httpx.Client | None = None
_http_client_pid: int | None = None
_http_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """The process's pooled client. A forked child (Celery prefork, gunicorn) must not share the
    parent's sockets, so a new pid gets a new client; the parent's is abandoned, not closed."""
    global _http_client, _http_client_pid
    pid = os.getpid()
    if _http_client is None or _http_client_pid != pid:
        with _http_client_lock:
            if _http_client is None or _http_client_pid != pid:
                _http_client = httpx.Client(
                    limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
                    headers={"User-Agent": "erp-aftersales-jos/1.0"},
                )
                _http_client_pid = pid
    return _http_client


def _reset_after_fork() -> None:
    global _http_client, _http_client_pid, _http_client_lock
    _http_client, _http_client_pid = None, None
    _http_client_lock = threading.Lock()  # the parent may have held it at fork time


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# --- helpers ------------------------------------------------------------------------------------
def redact(params: Mapping[str, object]) -> dict:
    """What is safe to store about a request: the method, timestamp and business parameters.

    Takes the full form (system params + 360buy_param_json) or a plain business dict; drops
    app_key/access_token/sign/v/format and any secret-looking business key.
    """
    if BUSINESS_PARAMS in params or "method" in params:
        raw = params.get(BUSINESS_PARAMS) or "{}"
        try:
            business = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except ValueError:
            business = {"_unparsed": str(raw)}
        summary = {"method": params.get("method", ""), "timestamp": params.get("timestamp", "")}
    else:
        business, summary = dict(params), {}
    if isinstance(business, dict):
        business = {k: ("***" if k in SECRET_PARAMS else v) for k, v in business.items()}
    summary["params"] = business
    return summary


def _is_false(value) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def check_business_result(payload: Mapping, key: str) -> dict:
    """Return `payload[key]` (a read's result), raising JosBusinessError when it says `success: false`.

    JD reports business failures inside a code-"0" envelope, e.g. queryPageList's
    {"queryResult": {"success": false, "errorCode": "...", "errorMsg": "..."}} (the SDK's QueryResult).
    A result without a `success` field is returned as is."""
    result = payload.get(key) if isinstance(payload, Mapping) else None
    if not isinstance(result, dict):
        raise JosProtocolError(f"京东接口返回内容缺少 {key}，无法确认处理结果")
    if _is_false(result.get("success", True)):
        raise _business_error(result)
    return result


def check_order_search(payload: Mapping) -> dict:
    """order.search's result: its business outcome sits one level down, in `apiResult`
    ({success, englishErrCode, chineseErrCode, numberCode}: the SDKs' ApiResult)."""
    result = check_business_result(payload, "searchorderinfo_result")
    api_result = result.get("apiResult")
    if isinstance(api_result, dict) and _is_false(api_result.get("success", True)):
        code = api_result.get("numberCode")
        raise JosBusinessError(
            str(code if code not in (None, "") else api_result.get("englishErrCode") or ""),
            str(api_result.get("chineseErrCode") or api_result.get("englishErrCode") or ""),
            result=api_result,
        )
    return result


def check_write_result(payload: Mapping, key: str) -> dict:
    """A write's answer (`updateWarehouseStatus` answers in `returnType`): accepted only when it says
    `success: true`. `success: false`, or an error code without `success`, is JD's refusal (its own
    errorCode/errorMsg); anything else cannot be read as either, so the outcome is unknown (JD may
    have taken it) and the write is not taken as done."""
    result = payload.get(key) if isinstance(payload, Mapping) else None
    if isinstance(result, dict):
        success = result.get("success")
        if success is True or (isinstance(success, str) and success.strip().lower() == "true"):
            return result
        if _is_false(success) or (success is None and (result.get("errorCode") or result.get("errorMsg"))):
            raise _business_error(result)
    raise JosProtocolError(
        f"京东接口返回内容缺少明确的处理结果（{key}.success），无法确认是否已处理",
        outcome_unknown=True,
    )


def _business_error(result: dict) -> JosBusinessError:
    # errorCode/errorMsg: the refundapply family (QueryResult, ReplyResult); code/msg: the asc family.
    code = result.get("errorCode") if result.get("errorCode") not in (None, "") else result.get("code")
    words = result.get("errorMsg") or result.get("msg") or ""
    return JosBusinessError(str(code if code is not None else ""), str(words), result=result)


def backoff_delay(retry_index: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**retry_index)] (retry_index 0 is the first retry)."""
    return random.uniform(0, min(cap, base * (2**retry_index)))


class JosClient:
    def __init__(
        self,
        endpoint: str,
        app_key: str,
        app_secret: str,
        access_token: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        http: httpx.Client | None = None,
    ):
        self.endpoint = endpoint
        self.app_key = app_key
        self._app_secret = app_secret
        self._access_token = access_token
        self.timeout = float(settings.JOS_TIMEOUT_SECONDS if timeout is None else timeout)
        self.max_retries = int(settings.JOS_MAX_RETRIES if max_retries is None else max_retries)
        self.max_response_bytes = int(settings.JOS_MAX_RESPONSE_BYTES)
        self.rate_limiter = rate_limiter
        self.sleep = sleep
        self._http = http  # tests inject an httpx.Client with a MockTransport
        self.last_call: dict | None = None
        self.last_request: dict | None = None

    def __repr__(self) -> str:
        return f"<JosClient app_key={self.app_key} endpoint={self.endpoint}>"

    @classmethod
    def for_shop(cls, shop, **kwargs) -> JosClient:
        if not (shop.app_key and shop.app_secret and shop.access_token):
            raise JosConfigurationError(
                f"店铺「{shop.shop_no}」未配置完整的京东授权信息（App Key / App Secret / Access Token），请先完成店铺授权",
                code="NO_CREDENTIALS",
            )
        return cls(settings.JOS_ENDPOINT, shop.app_key, shop.app_secret, shop.access_token, **kwargs)

    # --- the call ---------------------------------------------------------------------------------
    def call(self, method: str, params: Mapping | None = None, *, write: bool | None = None) -> dict:
        """Call `method` with business `params`; return the inner `<method>_responce` dict.

        A read retries retryable errors up to max_retries times (protocol errors once) with
        full-jitter backoff; every attempt waits for the rate limiter and is signed afresh. A write
        (`write`, by default: not in READ_METHODS) is made once, whatever happens.
        """
        write = method not in READ_METHODS if write is None else write
        business_json = json.dumps(dict(params or {}), ensure_ascii=False, separators=(",", ":"))
        limiter = self.rate_limiter or get_rate_limiter()
        started = time.monotonic()
        attempt = 0
        retries_by_kind: dict[type, int] = {}
        self.last_call = None
        while True:
            attempt += 1
            try:
                limiter.acquire(self.app_key)
            except JosError as exc:  # the limiter's backend is down: no call was made
                self.last_call = self._summary(method, attempt - 1, started, f"error:{exc.code}")
                raise
            attempt_started = time.monotonic()
            try:
                payload = self._attempt(method, business_json, write=write)
            except JosError as exc:
                elapsed_ms = _ms_since(attempt_started)
                retries = sum(retries_by_kind.values())
                kind_limit = exc.retry_limit if exc.retry_limit is not None else self.max_retries
                will_retry = (
                    not write
                    and exc.retryable
                    and retries < self.max_retries
                    and retries_by_kind.get(type(exc), 0) < kind_limit
                )
                logger.log(
                    logging.WARNING if will_retry else logging.ERROR,
                    "jos call method=%s app_key=%s attempt=%d outcome=%s elapsed_ms=%d%s",
                    method,
                    self.app_key,
                    attempt,
                    f"{type(exc).__name__}:{exc.code}",
                    elapsed_ms,
                    " retrying" if will_retry else "",
                )
                if not will_retry:
                    self.last_call = self._summary(method, attempt, started, f"error:{exc.code}")
                    raise
                retries_by_kind[type(exc)] = retries_by_kind.get(type(exc), 0) + 1
                self.sleep(backoff_delay(retries))
                continue
            logger.info(
                "jos call method=%s app_key=%s attempt=%d outcome=ok elapsed_ms=%d",
                method,
                self.app_key,
                attempt,
                _ms_since(attempt_started),
            )
            self.last_call = self._summary(method, attempt, started, "ok")
            return payload

    def _summary(self, method: str, attempts: int, started: float, outcome: str) -> dict:
        return {"method": method, "attempts": attempts, "elapsed_ms": _ms_since(started), "outcome": outcome}

    def _attempt(self, method: str, business_json: str, *, write: bool = False) -> dict:
        form = {
            "method": method,
            "app_key": self.app_key,
            "access_token": self._access_token,
            "timestamp": signing.jd_timestamp(),
            "v": "2.0",
            "format": "json",
            BUSINESS_PARAMS: business_json,
        }
        form["sign"] = signing.sign(form, self._app_secret)
        self.last_request = redact(form)
        http = self._http or http_client()
        try:
            # Streamed, so an answer past the limit is never held whole (see `_read_capped`).
            with http.stream(
                "POST",
                self.endpoint,
                data=form,
                timeout=httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT),
            ) as response:
                if response.status_code >= 300:
                    raise JosTransportError.for_status(response.status_code)
                content = _read_capped(response, self.max_response_bytes)
        except NOT_SENT as exc:  # the request never left: nothing can have reached JD
            raise (
                JosTransportError.timeout()
                if isinstance(exc, httpx.TimeoutException)
                else JosTransportError.connection()
            ) from exc
        except httpx.TimeoutException as exc:
            raise _after_send(JosTransportError.timeout(), write) from exc
        except httpx.TransportError as exc:  # reset or broken off once the request was on its way
            raise _after_send(JosTransportError.reset(), write) from exc
        except JosError as exc:  # HTTP status or an answer past the size limit: JD got the request
            raise _after_send(exc, write) from None
        try:
            return self._parse(method, content, secrets=(self._app_secret, self._access_token, form["sign"]))
        except JosError as exc:
            raise _after_send(exc, write) from None

    def _parse(self, method: str, content: bytes, secrets) -> dict:
        try:
            body = json.loads(content)
        except ValueError as exc:
            raise JosProtocolError() from exc
        if not isinstance(body, dict):
            raise JosProtocolError()
        if isinstance(body.get("error_response"), dict):
            err = body["error_response"]
            raise error_from_response(
                err.get("code"), err.get("zh_desc"), err.get("en_desc"), secrets=secrets
            )
        # JD spells the envelope `…_responce`; `…_response` is met too (JD's union APIs, its SDK docs).
        responce, response = signing.response_keys(method)
        inner = body.get(responce, body.get(response))
        if not isinstance(inner, dict):
            raise JosProtocolError()
        code = inner.get("code", "0")
        if str(code) != "0":
            # Some gateways report errors inside the method's envelope: same table, same meaning.
            raise error_from_response(code, inner.get("zh_desc"), inner.get("en_desc"), secrets=secrets)
        return inner


# httpx errors raised before any byte of the request left: connecting, or waiting for a connection.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _after_send(error: JosError, write: bool) -> JosError:
    """A failure once the request was sent. For a write, it is an unknown outcome when JD may have
    processed it: no clear answer (a timeout, a reset, an unreadable or oversized answer), a server
    error (HTTP 5xx) or JD's own platform timeout (65). A gateway refusal JD answered in full (a bad
    sign, a call limit, an HTTP 4xx) is not: JD did not act on it."""
    if not write:
        return error
    status = getattr(error, "status", None)
    unknown = (
        isinstance(error, JosProtocolError)
        or (isinstance(error, JosTransportError) and (status is None or status >= 500))
        or isinstance(error, JosPlatformTimeoutError)
    )
    if unknown:
        error.outcome_unknown = True
        error.user_message = f"{error.user_message.replace('，稍后自动重试', '')}：{UNKNOWN}"
    return error


def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body, or JosResponseTooLargeError as soon as it is known to pass `limit` bytes (counted
    after decompression: a small gzip can unpack huge). Closing the stream early drops the rest."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit and not response.headers.get("Content-Encoding"):
        raise JosResponseTooLargeError(limit)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise JosResponseTooLargeError(limit)
    return bytes(body)


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
