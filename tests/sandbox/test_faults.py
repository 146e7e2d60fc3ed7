"""Fault injection: each kind, over real HTTP. Faults never touch the control API."""

from __future__ import annotations

import socket
import time
import urllib.error

import pytest

from sandbox.testing import SandboxError

from .support import BY_ID, ORDER_SEARCH, body, error_code


def test_fail_next_queue_is_consumed_in_order(sandbox, shop, call):
    sandbox.set_faults(fail_next=[{"kind": "jos", "code": "65"}, {"kind": "http", "status": 502}])
    assert error_code(call(ORDER_SEARCH)) == "65"
    with pytest.raises(urllib.error.HTTPError) as raised:
        call(ORDER_SEARCH)
    assert raised.value.code == 502
    body(call(ORDER_SEARCH), ORDER_SEARCH)
    assert [c["code"] for c in sandbox.calls()] == ["65", "http-502", "0"]


def test_fail_next_can_wait_for_a_method(sandbox, shop, call):
    sandbox.set_faults(app_key=shop["app_key"], fail_next=[{"kind": "jos", "code": "65", "method": BY_ID}])
    body(call(ORDER_SEARCH), ORDER_SEARCH)
    assert error_code(call(BY_ID, {"id": 1})) == "65"
    body(call(BY_ID, {"id": 1}), BY_ID)


def test_hang_makes_the_client_time_out(sandbox, shop, call):
    sandbox.set_faults(fail_next=[{"kind": "hang", "seconds": 2.0}])
    started = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        call(ORDER_SEARCH, timeout=0.3)
    assert time.monotonic() - started < 1.8  # well under the 2 s the fault would cost
    # the sandbox answers after the hang (too late for that client) and logs it
    deadline = time.monotonic() + 10
    while not sandbox.calls() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c["code"] for c in sandbox.calls()] == ["hang"]


def test_hang_rate(sandbox, shop, call):
    sandbox.set_faults(hang_rate=1.0, hang_seconds=0.6)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        call(ORDER_SEARCH, timeout=0.2)
    sandbox.clear_faults()
    deadline = time.monotonic() + 10
    while not sandbox.calls() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c["code"] for c in sandbox.calls()] == ["hang"]


def test_call_limit_per_second_answers_2(sandbox, shop, call):
    sandbox.set_faults(app_key=shop["app_key"], call_limit_per_second=2)
    if time.time() % 1 > 0.5:  # start early in a wall-clock second so three calls share it
        time.sleep(1 - time.time() % 1)
    codes = []
    for _ in range(3):
        response = call(ORDER_SEARCH)
        codes.append(response["error_response"]["code"] if "error_response" in response else "0")
    assert codes == ["0", "0", "2"]


def test_revoked_token_is_19(sandbox, shop, call):
    sandbox.set_faults(app_key=shop["app_key"], revoked=True)
    assert error_code(call(ORDER_SEARCH)) == "19"
    sandbox.clear_faults(app_key=shop["app_key"])
    body(call(ORDER_SEARCH), ORDER_SEARCH)


def test_latency_is_added(sandbox, shop, call):
    sandbox.set_faults(latency_ms=300)
    started = time.monotonic()
    body(call(ORDER_SEARCH), ORDER_SEARCH)
    assert time.monotonic() - started >= 0.3


def test_error_rate_with_codes(sandbox, shop, call):
    sandbox.set_faults(error_rate=1.0, error_codes=["65"])
    assert error_code(call(ORDER_SEARCH)) == "65"
    assert sandbox.calls()[-1]["injected"] is True
    sandbox.set_faults(error_rate=0.0)
    body(call(ORDER_SEARCH), ORDER_SEARCH)


def test_http_5xx_rate_answers_503_plain(sandbox, shop, call):
    sandbox.set_faults(app_key=shop["app_key"], http_5xx_rate=1.0)
    with pytest.raises(urllib.error.HTTPError) as raised:
        call(ORDER_SEARCH)
    assert raised.value.code == 503
    assert raised.value.headers["Content-Type"].startswith("text/plain")
    assert sandbox.calls()[-1]["code"] == "http-503"


def test_shop_faults_do_not_touch_other_shops(sandbox, shop, call):
    from sandbox.testing import jos_call

    sandbox.seed_shop(app_key="OTHER", app_secret="s2", access_token="t2")
    sandbox.set_faults(app_key="OTHER", error_rate=1.0)
    body(call(ORDER_SEARCH), ORDER_SEARCH)
    assert error_code(jos_call(sandbox.jos_url, "OTHER", "s2", "t2", ORDER_SEARCH, {})) == "65"


def test_faults_never_apply_to_the_control_api(sandbox, shop):
    sandbox.set_faults(http_5xx_rate=1.0, latency_ms=2000, error_rate=1.0)
    started = time.monotonic()
    assert sandbox.health() == {"ok": True}
    sandbox.calls()
    assert time.monotonic() - started < 1.8  # well under the 2 s the fault would cost


def test_bad_fault_input_is_400_naming_the_field(sandbox):
    with pytest.raises(SandboxError) as raised:
        sandbox.set_faults(error_rate=2)
    assert raised.value.status == 400 and "error_rate" in raised.value.body["error"]
    with pytest.raises(SandboxError) as raised:
        sandbox.set_faults(fail_next=[{"kind": "explode"}])
    assert "fail_next[0].kind" in raised.value.body["error"]


def test_drop_after_apply_applies_the_writeback_and_loses_its_answer(sandbox, shop, call):
    from .support import WRITEBACK, refund

    sandbox.set_policy(shop["app_key"], auto_refund_on=["2"], delay_seconds=0)  # keep it open
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    sandbox.set_faults(fail_next=[{"kind": "drop_after_apply", "seconds": 1.0, "method": WRITEBACK}])
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        call(WRITEBACK, {"orderId": 811, "refId": 1, "status": 1}, timeout=0.3)
    # JD has it although the client never heard so; the call log says the answer was dropped
    assert [w["status"] for w in sandbox.refund(1)["warehouseWritebacks"]] == ["1"]
    assert [(c["code"], c["success"]) for c in sandbox.calls(method=WRITEBACK)] == [("dropped", True)]
    # the resend is JD's repeat of the same refId+status
    body(call(WRITEBACK, {"orderId": 811, "refId": 1, "status": 1}), WRITEBACK)
    assert sandbox.calls(method=WRITEBACK)[-1]["repeat"] is True
