"""A write to JD is never repeated inside a call, whatever goes wrong: over every kind of fault the
client can meet, a write is sent at most once, and the error says whether its outcome is unknown (JD
may have done it), a refusal, or never sent. Reads, for contrast, are retried where retrying helps.

(hypothesis is not among the project's dependencies: every fault kind is enumerated instead.)
Unit tests of the JOS client: its HTTP is a MockTransport playing each fault."""

from __future__ import annotations

import httpx
import pytest

from platforms.jd.adapter import JdPlatform
from platforms.jd.client import JosClient
from platforms.jd.errors import JosError, JosRateLimiterError
from platforms.port import NOT_SENT, REFUSED, UNKNOWN
from refunds.models import RawRefund

WRITE = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
READ = "jingdong.pop.afs.soa.refundapply.queryPageList"


def envelope(method, payload):
    return httpx.Response(200, json={method.replace(".", "_") + "_responce": {"code": "0", **payload}})


def gateway(code):
    return httpx.Response(200, json={"error_response": {"code": code, "zh_desc": "说明", "en_desc": "text"}})


def raising(error_type, message="fault"):
    def fault(request):
        raise error_type(message, request=request)

    return fault


# fault → (what the server does on every attempt, outcome for a write, whether a read retries it)
FAULTS = {
    "connection refused": (raising(httpx.ConnectError), NOT_SENT, True),
    "connect timeout": (raising(httpx.ConnectTimeout), NOT_SENT, True),
    "no free connection": (raising(httpx.PoolTimeout), NOT_SENT, True),
    "read timeout": (raising(httpx.ReadTimeout), UNKNOWN, True),
    "write timeout": (raising(httpx.WriteTimeout), UNKNOWN, True),
    "reset after sending": (raising(httpx.ReadError, "Connection reset by peer"), UNKNOWN, True),
    "closed without an answer": (raising(httpx.RemoteProtocolError, "Server disconnected"), UNKNOWN, True),
    "HTTP 500": (lambda r: httpx.Response(500, text="oops"), UNKNOWN, True),
    "HTTP 502": (lambda r: httpx.Response(502, text="bad gateway"), UNKNOWN, True),
    "HTTP 503": (lambda r: httpx.Response(503, text="unavailable"), UNKNOWN, True),
    "HTTP 504": (lambda r: httpx.Response(504, text="timeout"), UNKNOWN, True),
    "HTTP 429": (lambda r: httpx.Response(429, text="slow down"), REFUSED, True),
    "HTTP 404": (lambda r: httpx.Response(404, text="no such path"), REFUSED, False),
    "not JSON": (lambda r: httpx.Response(200, text="<html>busy</html>"), UNKNOWN, True),
    "JSON but not an object": (lambda r: httpx.Response(200, json=[1, 2]), UNKNOWN, True),
    "no envelope for the method": (lambda r: httpx.Response(200, json={"other_responce": {}}), UNKNOWN, True),
    "an answer past the size limit": (lambda r: httpx.Response(200, text="x" * 70_000), UNKNOWN, False),
    "JD's platform timeout (65)": (lambda r: gateway("65"), UNKNOWN, True),
    "JD's call limit (2)": (lambda r: gateway("2"), REFUSED, True),
    "a revoked token (19)": (lambda r: gateway("19"), REFUSED, False),
    "a bad sign (12)": (lambda r: gateway("12"), REFUSED, False),
}


class Counting:
    def __init__(self, fault):
        self.fault, self.calls = fault, 0

    def __call__(self, request):
        self.calls += 1
        return self.fault(request)


class NoLimit:
    def acquire(self, app_key):
        return 0.0


class LimiterDown:
    def acquire(self, app_key):
        raise JosRateLimiterError()


def client(handler, limiter=None):
    return JosClient(
        "http://jos.test/routerjson",
        "APPKEY",
        "secret-value",
        "token-value",
        max_retries=3,
        rate_limiter=limiter or NoLimit(),
        sleep=lambda seconds: None,
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )


@pytest.fixture
def small_answers(settings):
    settings.JOS_MAX_RESPONSE_BYTES = 64 * 1024


@pytest.mark.parametrize("fault", FAULTS)
def test_a_write_is_sent_once_whatever_the_fault(fault, small_answers):
    server, outcome, _ = FAULTS[fault]
    handler = Counting(server)
    with pytest.raises(JosError) as failed:
        client(handler).call(WRITE, {"orderId": 1, "refId": 2, "status": 1})
    assert handler.calls == 1
    assert failed.value.outcome_unknown is (outcome == UNKNOWN)
    if outcome == UNKNOWN:
        # said as what it is: not a refusal, an answer that never came back
        assert "请求可能已到达京东，结果未知，未重发" in failed.value.user_message


@pytest.mark.parametrize("fault", FAULTS)
def test_the_port_reports_each_fault_as_unknown_refused_or_never_sent(fault, small_answers):
    server, outcome, _ = FAULTS[fault]
    handler = Counting(server)
    platform = JdPlatform(None, client=client(handler))
    result = platform.write_shipment_cancelled(RawRefund(refund_no="2", platform_id="2", tid="1"))
    assert (result.outcome, handler.calls) == (outcome, 1)
    assert result.request["params"] == {"orderId": 1, "refId": 2, "status": 1}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_read_is_retried_where_retrying_helps(fault, small_answers):
    server, _, retried = FAULTS[fault]
    handler = Counting(server)
    with pytest.raises(JosError):
        client(handler).call(READ, {"ids": "2"})
    # protocol errors are retried once; the others up to max_retries (3)
    assert (handler.calls > 1) is retried


def test_a_write_that_succeeds_after_nothing_is_sent_once():
    handler = Counting(lambda r: envelope(WRITE, {"returnType": {"success": True}}))
    client(handler).call(WRITE, {"orderId": 1, "refId": 2, "status": 1})
    assert handler.calls == 1


def test_a_write_with_the_rate_limiter_down_is_never_sent():
    handler = Counting(lambda r: envelope(WRITE, {"returnType": {"success": True}}))
    platform = JdPlatform(None, client=client(handler, limiter=LimiterDown()))
    result = platform.write_goods_in_warehouse(RawRefund(refund_no="2", platform_id="2", tid="1"))
    assert (result.outcome, handler.calls) == (NOT_SENT, 0)
    assert not result.error.outcome_unknown


def test_an_unknown_method_is_treated_as_a_write():
    handler = Counting(lambda r: httpx.Response(503, text="unavailable"))
    with pytest.raises(JosError) as failed:
        client(handler).call("jingdong.asc.receive.register", {"serviceId": 1})
    assert handler.calls == 1 and failed.value.outcome_unknown
