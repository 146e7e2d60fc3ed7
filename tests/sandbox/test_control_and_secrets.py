"""The control API's validation, and credentials never showing up where they should not."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlencode

import pytest

from sandbox.testing import SandboxError, post_form, signed_params

from .support import BY_ID, ORDER_SEARCH, WRITEBACK, order, refund, ts


def test_call_log_never_contains_token_secret_or_sign(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    signs = []
    for method, params in [
        (ORDER_SEARCH, {"page": 1}),
        (BY_ID, {"id": 1}),
        (WRITEBACK, {"orderId": 811, "refId": 1, "status": "1"}),
        (BY_ID, {"id": 1, "access_token": shop["access_token"]}),  # even if a client misplaces it
    ]:
        form = signed_params(shop["app_key"], shop["app_secret"], shop["access_token"], method, params)
        signs.append(form["sign"])
        post_form(sandbox.jos_url, form)
    bad = signed_params(shop["app_key"], shop["app_secret"], "wrong-token-xyz", ORDER_SEARCH, {})
    signs.append(bad["sign"])
    post_form(sandbox.jos_url, bad)

    calls = sandbox.calls()
    assert len(calls) == 5
    dumped = json.dumps(calls, ensure_ascii=False)
    for secret in [shop["access_token"], shop["app_secret"], "wrong-token-xyz", *signs]:
        assert secret not in dumped
    assert calls[0]["params"] == {"page": 1}
    assert set(calls[0]) == {"seq", "time", "method", "app_key", "params", "code", "success"}


def test_process_output_never_contains_credentials(sandbox, shop):
    form = signed_params(shop["app_key"], shop["app_secret"], shop["access_token"], ORDER_SEARCH, {})
    url = f"{sandbox.jos_url}?{urlencode(form)}"  # credentials in the request line
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=5):
        pass
    output = sandbox.output()
    assert "/routerjson" in output
    for secret in (shop["access_token"], shop["app_secret"], form["sign"]):
        assert secret not in output


def test_shops_never_show_secrets(sandbox, shop):
    (listed,) = sandbox.shops()
    assert listed["app_key"] == shop["app_key"]
    assert "app_secret" not in listed and "access_token" not in listed
    assert shop["access_token"] not in json.dumps(listed)


def test_call_log_filters_and_clear(sandbox, shop, call):
    call(ORDER_SEARCH)
    call(BY_ID, {"id": 1})
    assert [c["method"] for c in sandbox.calls(method=BY_ID)] == [BY_ID]
    assert len(sandbox.calls(app_key=shop["app_key"])) == 2
    assert sandbox.calls(app_key="NOPE") == []
    sandbox.clear_calls()
    assert sandbox.calls() == []


@pytest.mark.parametrize(
    ("action", "field"),
    [
        (lambda s: s.seed_shop(app_key="K", access_token="t"), "app_secret"),
        (lambda s: s.seed_orders("NOSUCHSHOP", []), "app_key"),
        (
            lambda s: s.seed_orders("TESTAPPKEY", [{"orderId": "1", "orderState": "SHIPPED?"}]),
            "orders[0].orderState",
        ),
        (
            lambda s: s.seed_orders("TESTAPPKEY", [order("1", "2026-13-01 00:00:00")]),
            "orders[0].orderStartTime",
        ),
        (lambda s: s.seed_refunds("TESTAPPKEY", [{"id": 1}]), "refunds[0].orderId"),
        (lambda s: s.seed_refunds("TESTAPPKEY", [refund(1, status=12)]), "refunds[0].status"),
        (lambda s: s.seed_refunds("TESTAPPKEY", [refund(1, afsType=2)]), "refunds[0].afsType"),
        (lambda s: s.seed_refunds("TESTAPPKEY", [refund(1, colour="red")]), "refunds[0].colour"),
        (lambda s: s.set_policy("TESTAPPKEY", ["7"], 1), "auto_refund_on"),
        (lambda s: s.set_policy("TESTAPPKEY", ["1"], -1), "delay_seconds"),
        (lambda s: s.set_faults(app_key="NOSUCHSHOP", latency_ms=1), "app_key"),
    ],
)
def test_bad_control_input_is_400_naming_the_field(sandbox, action, field):
    with pytest.raises(SandboxError) as raised:
        action(sandbox)
    assert raised.value.status == 400
    assert field in raised.value.body["error"]


def test_unknown_ids_are_404(sandbox):
    with pytest.raises(SandboxError) as raised:
        sandbox.refund(999)
    assert raised.value.status == 404
    with pytest.raises(SandboxError) as raised:
        sandbox.update_order("800000000404", orderState="FINISHED_L")
    assert raised.value.status == 404


def test_reset_empties_everything(sandbox, shop, call):
    sandbox.seed_orders(shop["app_key"], [order("800000000001", ts())])
    sandbox.set_faults(latency_ms=1)
    call(ORDER_SEARCH)
    sandbox.reset()
    assert sandbox.shops() == [] and sandbox.calls() == [] and sandbox.faults() == []
    assert sandbox.orders() == [] and sandbox.refunds() == []


def test_shop_upsert_keeps_the_data(sandbox, shop):
    sandbox.seed_orders(shop["app_key"], [order("800000000001", ts())])
    sandbox.seed_shop(**{**shop, "access_token": "rotated-token"})
    assert len(sandbox.orders(shop["app_key"])) == 1
