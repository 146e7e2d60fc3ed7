"""The JOS client as a unit: typed errors, envelope parsing, retries, signing per attempt, no leaks.

HTTP is an `httpx.MockTransport` injected into the client; the sandbox over real HTTP is exercised
by the writeback and sync tests.
"""

import hashlib
import json
import logging
import pickle
from urllib.parse import parse_qsl

import httpx
import pytest

from orders.models import Shop
from platforms.jd import client as jos
from platforms.jd import errors
from platforms.jd.client import JosClient, check_business_result, redact
from platforms.jd.errors import (
    JosAccessTokenError,
    JosAppKeyError,
    JosBusinessError,
    JosCallLimitError,
    JosConfigurationError,
    JosError,
    JosMethodError,
    JosPermissionError,
    JosPlatformTimeoutError,
    JosProtocolError,
    JosSignError,
    JosTimestampError,
    JosTransportError,
    error_from_response,
)

ENDPOINT = "http://jos.test/routerjson"
APP_KEY = "APPKEY-1"
APP_SECRET = "very-secret-value-42"
ACCESS_TOKEN = "token-abcdef-777"
METHOD = "jingdong.pop.afs.soa.refundapply.queryPageList"
RESPONSE_KEY = "jingdong_pop_afs_soa_refundapply_queryPageList_responce"


class RecordingLimiter:
    def __init__(self):
        self.acquired = []

    def acquire(self, app_key):
        self.acquired.append(app_key)
        return 0.0


class Recorder:
    """A MockTransport handler answering from a script; each item is a Response or an exception."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests = []

    def __call__(self, request: httpx.Request):
        self.requests.append(request)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def forms(self):
        return [dict(parse_qsl(r.content.decode())) for r in self.requests]


def ok(payload=None):
    return httpx.Response(
        200, json={RESPONSE_KEY: {"code": "0", **(payload or {"queryResult": {"success": True}})}}
    )


def jos_error(code, zh="错误", en="error"):
    return httpx.Response(200, json={"error_response": {"code": code, "zh_desc": zh, "en_desc": en}})


def make_client(recorder, *, max_retries=3, sleeps=None, limiter=None):
    sleeps = [] if sleeps is None else sleeps
    return JosClient(
        ENDPOINT,
        APP_KEY,
        APP_SECRET,
        ACCESS_TOKEN,
        timeout=2.0,
        max_retries=max_retries,
        rate_limiter=limiter or RecordingLimiter(),
        sleep=sleeps.append,
        http=httpx.Client(transport=httpx.MockTransport(recorder)),
    )


def hand_sign(form, secret):
    """JD's sign, written independently of platforms.jd.signing."""
    body = "".join(f"{k}{v}" for k, v in sorted(form.items()) if k != "sign" and v != "")
    return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()


# --- the error table ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code, cls, retryable, credential_problem",
    [
        ("2", JosCallLimitError, True, False),
        ("7", JosTimestampError, False, False),
        ("8", JosTimestampError, False, False),
        ("11", JosSignError, False, True),
        ("12", JosSignError, False, True),
        ("14", JosMethodError, False, False),
        ("15", JosMethodError, False, False),
        ("18", JosAccessTokenError, False, True),
        ("19", JosAccessTokenError, False, True),
        ("20", JosAppKeyError, False, True),
        ("21", JosAppKeyError, False, True),
        ("24", JosPermissionError, False, True),
        ("65", JosPlatformTimeoutError, True, False),
    ],
)
def test_each_jos_code_maps_to_its_class_and_flags(code, cls, retryable, credential_problem):
    error = error_from_response(code, "京东的说明", "JD's text")
    assert type(error) is cls
    assert error.code == code
    assert error.retryable is retryable
    assert error.credential_problem is credential_problem
    assert error.zh_desc == "京东的说明" and error.en_desc == "JD's text"
    assert error.user_message and str(error) == error.user_message
    assert f"错误码 {code}" in error.user_message


@pytest.mark.parametrize(
    "code, words",
    [
        ("2", ["调用次数超限"]),
        ("8", ["6 分钟", "校准"]),
        ("12", ["签名", "App Secret"]),
        ("15", ["配置错误"]),
        ("19", ["access_token 失效", "重新授权"]),
        ("21", ["App Key"]),
        ("24", ["未获得该接口权限"]),
        ("65", ["超时"]),
    ],
)
def test_user_messages_say_what_to_do(code, words):
    message = error_from_response(code).user_message
    for word in words:
        assert word in message


def test_codes_are_matched_as_strings_whatever_json_type_jd_used():
    assert type(error_from_response(19)) is JosAccessTokenError


def test_unknown_code_is_a_plain_non_retryable_error_showing_jds_text():
    error = error_from_response("999", "奇怪的错误", "strange")
    assert type(error) is JosError
    assert not error.retryable and not error.credential_problem
    assert "奇怪的错误" in error.user_message and "999" in error.user_message


def test_secrets_in_jds_text_are_blanked():
    error = error_from_response(
        "999", f"token {ACCESS_TOKEN} bad", f"secret {APP_SECRET}", secrets=[ACCESS_TOKEN, APP_SECRET]
    )
    for text in (error.user_message, error.zh_desc, error.en_desc, repr(error)):
        assert ACCESS_TOKEN not in text and APP_SECRET not in text


def test_transport_and_protocol_errors():
    assert JosTransportError.for_status(503).retryable
    assert "HTTP 503" in JosTransportError.for_status(503).user_message
    assert not JosTransportError.for_status(404).retryable
    assert JosTransportError.timeout().retryable and "超时" in JosTransportError.timeout().user_message
    assert JosProtocolError().retryable and JosProtocolError.retry_limit == 1


def test_errors_survive_pickling():
    error = pickle.loads(pickle.dumps(error_from_response("19", "令牌失效", "invalid token")))
    assert type(error) is JosAccessTokenError and error.code == "19" and error.credential_problem


# --- envelope parsing -----------------------------------------------------------------------------
def test_success_returns_the_inner_envelope():
    payload = {"queryResult": {"success": True, "totalCount": 1, "result": [{"id": 7, "buyerName": "张三"}]}}
    client = make_client(Recorder(ok(payload)))
    answer = client.call(METHOD, {"pageIndex": 1})
    assert answer["code"] == "0"
    assert answer["queryResult"]["result"][0]["buyerName"] == "张三"
    assert client.last_call["attempts"] == 1 and client.last_call["outcome"] == "ok"


def test_request_carries_system_params_and_compact_utf8_json():
    recorder = Recorder(ok())
    make_client(recorder).call(METHOD, {"reason": "不想要了", "pageIndex": 1})
    [form] = recorder.forms()
    assert recorder.requests[0].method == "POST"
    assert recorder.requests[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert form["method"] == METHOD and form["app_key"] == APP_KEY and form["access_token"] == ACCESS_TOKEN
    assert form["v"] == "2.0" and form["format"] == "json"
    assert form["360buy_param_json"] == '{"reason":"不想要了","pageIndex":1}'
    assert form["sign"] == hand_sign(form, APP_SECRET)


def test_error_response_raises_the_typed_error():
    with pytest.raises(JosPermissionError) as caught:
        make_client(Recorder(jos_error("24", "无权限"))).call(METHOD, {})
    assert caught.value.credential_problem


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"some_other_method_responce": {"code": "0"}}),
    ],
)
def test_unrecognised_answers_are_protocol_errors_retried_once(response):
    recorder = Recorder(response, response, response)
    sleeps = []
    client = make_client(recorder, sleeps=sleeps)
    with pytest.raises(JosProtocolError):
        client.call(METHOD, {})
    assert len(recorder.requests) == 2 and len(sleeps) == 1
    assert client.last_call["attempts"] == 2


def test_business_failure_inside_a_code_0_envelope():
    # JD's QueryResult: success, errorCode, errorMsg
    payload = {"queryResult": {"success": False, "errorCode": "NOT_FOUND", "errorMsg": "退款单不存在"}}
    answer = make_client(Recorder(ok(payload))).call(METHOD, {})
    with pytest.raises(JosBusinessError) as caught:
        check_business_result(answer, "queryResult")
    assert caught.value.user_message == "京东返回：退款单不存在"
    assert caught.value.code == "NOT_FOUND" and not caught.value.retryable
    assert not caught.value.credential_problem


def test_business_failure_reads_a_string_false_and_the_asc_familys_code_and_msg():
    with pytest.raises(JosBusinessError, match="状态不允许") as caught:
        check_business_result({"result": {"success": "false", "code": "E1", "msg": "状态不允许"}}, "result")
    assert caught.value.code == "E1"


def test_business_success_returns_the_result():
    result = check_business_result({"queryResult": {"success": True, "totalCount": 0}}, "queryResult")
    assert result["totalCount"] == 0
    with pytest.raises(JosProtocolError):
        check_business_result({"code": "0"}, "queryResult")


# --- retries --------------------------------------------------------------------------------------
def test_platform_timeout_then_success_takes_two_attempts():
    recorder = Recorder(jos_error("65", "平台超时"), ok())
    sleeps = []
    limiter = RecordingLimiter()
    client = make_client(recorder, sleeps=sleeps, limiter=limiter)
    assert client.call(METHOD, {})["code"] == "0"
    assert len(recorder.requests) == 2
    assert client.last_call["attempts"] == 2 and client.last_call["outcome"] == "ok"
    assert len(sleeps) == 1
    assert limiter.acquired == [APP_KEY, APP_KEY]  # every attempt goes through the limiter


def test_http_5xx_twice_then_success():
    recorder = Recorder(httpx.Response(502), httpx.Response(503, text="busy"), ok())
    client = make_client(recorder)
    assert client.call(METHOD, {})["code"] == "0"
    assert client.last_call["attempts"] == 3


def test_timeout_then_success():
    recorder = Recorder(httpx.ReadTimeout("read timed out"), ok())
    client = make_client(recorder)
    assert client.call(METHOD, {})["code"] == "0"
    assert client.last_call["attempts"] == 2


def test_connection_refused_then_success():
    recorder = Recorder(httpx.ConnectError("connection refused"), ok())
    assert make_client(recorder).call(METHOD, {})["code"] == "0"
    assert len(recorder.requests) == 2


def test_invalid_access_token_is_not_retried():
    recorder = Recorder(jos_error("19", "access_token无效"), ok())
    sleeps = []
    client = make_client(recorder, sleeps=sleeps)
    with pytest.raises(JosAccessTokenError):
        client.call(METHOD, {})
    assert len(recorder.requests) == 1 and sleeps == []
    assert client.last_call["attempts"] == 1 and client.last_call["outcome"] == "error:19"


def test_http_4xx_is_not_retried():
    recorder = Recorder(httpx.Response(404), ok())
    with pytest.raises(JosTransportError) as caught:
        make_client(recorder).call(METHOD, {})
    assert not caught.value.retryable and len(recorder.requests) == 1


def test_retries_exhausted_raise_the_last_error():
    recorder = Recorder(
        jos_error("65"), httpx.Response(503), jos_error("2", "调用超限"), httpx.ReadTimeout("slow"), ok()
    )
    sleeps = []
    client = make_client(recorder, max_retries=3, sleeps=sleeps)
    with pytest.raises(JosTransportError) as caught:
        client.call(METHOD, {})
    assert caught.value.code == "TIMEOUT"
    assert len(recorder.requests) == 4 and len(sleeps) == 3
    assert client.last_call["attempts"] == 4 and client.last_call["outcome"] == "error:TIMEOUT"


def test_backoff_is_full_jitter_within_the_cap():
    recorder = Recorder(*[jos_error("65")] * 7)
    sleeps = []
    with pytest.raises(JosPlatformTimeoutError):
        make_client(recorder, max_retries=6, sleeps=sleeps).call(METHOD, {})
    assert len(sleeps) == 6
    for i, delay in enumerate(sleeps):
        assert 0 <= delay <= min(8.0, 0.5 * 2**i)


def test_backoff_delay_spreads_over_the_whole_range(monkeypatch):
    monkeypatch.setattr(jos.random, "uniform", lambda a, b: b)
    assert [jos.backoff_delay(i) for i in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    monkeypatch.setattr(jos.random, "uniform", lambda a, b: a)
    assert jos.backoff_delay(3) == 0


def test_every_attempt_is_signed_afresh_with_a_new_timestamp(monkeypatch):
    stamps = iter(["2024-05-01 12:00:00", "2024-05-01 12:00:01", "2024-05-01 12:00:03"])
    monkeypatch.setattr(jos.signing, "jd_timestamp", lambda: next(stamps))
    recorder = Recorder(jos_error("65"), httpx.Response(500), ok())
    make_client(recorder).call(METHOD, {"pageIndex": 2})
    forms = recorder.forms()
    assert [f["timestamp"] for f in forms] == [
        "2024-05-01 12:00:00",
        "2024-05-01 12:00:01",
        "2024-05-01 12:00:03",
    ]
    for form in forms:
        assert form["sign"] == hand_sign(form, APP_SECRET)
    assert len({f["sign"] for f in forms}) == 3


# --- no secrets in logs or stored summaries -------------------------------------------------------
def test_logs_name_method_app_key_attempt_and_outcome_but_no_secret(caplog):
    caplog.set_level(logging.DEBUG)
    recorder = Recorder(
        jos_error("65"), httpx.ReadTimeout("slow"), ok(), jos_error("19", f"token {ACCESS_TOKEN} 无效")
    )
    client = make_client(recorder)
    client.call(METHOD, {"orderId": "123"})
    with pytest.raises(JosAccessTokenError) as caught:
        client.call(METHOD, {"orderId": "123"})
    signs = [f["sign"] for f in recorder.forms()]
    text = caplog.text + str(caught.value) + repr(caught.value) + caught.value.zh_desc
    assert METHOD in caplog.text and APP_KEY in caplog.text
    assert "attempt=3 outcome=ok" in caplog.text and "attempt=1 outcome=JosAccessTokenError:19" in caplog.text
    for secret in [APP_SECRET, ACCESS_TOKEN, *signs]:
        assert secret not in text


def test_redact_keeps_business_params_only():
    recorder = Recorder(ok())
    client = make_client(recorder)
    client.call(METHOD, {"orderId": "123", "reason": "破损"})
    [form] = recorder.forms()
    summary = redact(form)
    assert summary["method"] == METHOD
    assert summary["params"] == {"orderId": "123", "reason": "破损"}
    assert client.last_request == summary
    dumped = json.dumps(summary, ensure_ascii=False) + repr(client)
    for secret in (APP_SECRET, ACCESS_TOKEN, form["sign"]):
        assert secret not in dumped


def test_redact_masks_secret_looking_business_keys():
    assert redact({"orderId": 1, "access_token": "x"}) == {"params": {"orderId": 1, "access_token": "***"}}


# --- construction ---------------------------------------------------------------------------------
def test_for_shop_uses_the_shops_credentials_and_settings(settings):
    settings.JOS_ENDPOINT = "http://sandbox.test/routerjson"
    settings.JOS_TIMEOUT_SECONDS = 4.5
    settings.JOS_MAX_RETRIES = 2
    shop = Shop(shop_no="S1", app_key="K1", app_secret="SEC1", access_token="TOK1")
    client = JosClient.for_shop(shop)
    assert client.endpoint == "http://sandbox.test/routerjson" and client.app_key == "K1"
    assert client.timeout == 4.5 and client.max_retries == 2
    assert "SEC1" not in repr(client) and "TOK1" not in repr(client)


def test_for_shop_without_credentials_is_a_credential_problem():
    with pytest.raises(JosConfigurationError) as caught:
        JosClient.for_shop(Shop(shop_no="S2", app_key="K2", app_secret="", access_token=""))
    assert caught.value.credential_problem and "S2" in caught.value.user_message


def test_one_pooled_http_client_per_process(monkeypatch):
    monkeypatch.setattr(jos, "_http_client", None)
    first = jos.http_client()
    assert jos.http_client() is first
    monkeypatch.setattr(jos, "_http_client_pid", -1)  # as if this were a forked child
    second = jos.http_client()
    assert second is not first and jos.http_client() is second
    first.close()
    second.close()
    monkeypatch.setattr(jos, "_http_client", None)


def test_error_table_is_the_single_source():
    assert set(errors.JOS_ERROR_CODES) == set("2 7 8 11 12 14 15 18 19 20 21 24 65".split())
