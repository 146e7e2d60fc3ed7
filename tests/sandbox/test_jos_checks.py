"""JD's system checks, in JD's order, with JD's error envelope."""

from __future__ import annotations

from datetime import datetime, timedelta

from platforms.jd.signing import SHANGHAI, sign
from sandbox.testing import post_form, signed_params

from .support import BY_ID, ORDER_SEARCH, body, error_code


def form(shop, method=ORDER_SEARCH, params=None, **overrides):
    params = signed_params(shop["app_key"], shop["app_secret"], shop["access_token"], method, params or {})
    params.update(overrides)
    return params


def resign(params, secret):
    params = {k: v for k, v in params.items() if k != "sign"}
    params["sign"] = sign(params, secret)
    return params


def test_a_well_signed_call_succeeds(sandbox, shop):
    response = post_form(sandbox.jos_url, form(shop))
    assert body(response, ORDER_SEARCH)["searchorderinfo_result"]["apiResult"]["success"] is True


def test_wrong_sign_is_12(sandbox, shop):
    response = post_form(sandbox.jos_url, form(shop, sign="0" * 32))
    assert error_code(response) == "12"
    assert response["error_response"]["zh_desc"]


def test_sign_with_another_secret_is_12(sandbox, shop):
    response = post_form(sandbox.jos_url, resign(form(shop), "not-the-secret"))
    assert error_code(response) == "12"


def test_tampered_business_params_break_the_sign(sandbox, shop):
    params = form(shop, params={"page": 1})
    params["360buy_param_json"] = '{"page":2}'
    assert error_code(post_form(sandbox.jos_url, params)) == "12"


def test_missing_sign_is_11(sandbox, shop):
    params = form(shop)
    del params["sign"]
    assert error_code(post_form(sandbox.jos_url, params)) == "11"


def test_wrong_token_is_19(sandbox, shop):
    params = resign(form(shop, access_token="someone-elses-token"), shop["app_secret"])
    assert error_code(post_form(sandbox.jos_url, params)) == "19"


def test_missing_token_is_18(sandbox, shop):
    params = form(shop)
    del params["access_token"]
    assert error_code(post_form(sandbox.jos_url, resign(params, shop["app_secret"]))) == "18"


def test_timestamp_seven_minutes_off_is_8(sandbox, shop):
    for minutes in (7, -7):
        when = datetime.now(tz=SHANGHAI) + timedelta(minutes=minutes)
        params = signed_params(
            shop["app_key"], shop["app_secret"], shop["access_token"], ORDER_SEARCH, {}, timestamp=when
        )
        assert error_code(post_form(sandbox.jos_url, params)) == "8"


def test_timestamp_five_minutes_off_is_accepted(sandbox, shop):
    when = datetime.now(tz=SHANGHAI) - timedelta(minutes=5)
    params = signed_params(
        shop["app_key"], shop["app_secret"], shop["access_token"], ORDER_SEARCH, {}, timestamp=when
    )
    body(post_form(sandbox.jos_url, params), ORDER_SEARCH)


def test_unparseable_timestamp_is_8_and_missing_is_7(sandbox, shop):
    assert (
        error_code(post_form(sandbox.jos_url, resign(form(shop, timestamp="2026/03/01 09:00"), "x"))) == "8"
    )
    params = form(shop)
    del params["timestamp"]
    assert error_code(post_form(sandbox.jos_url, params)) == "7"


def test_unknown_method_is_15_and_missing_is_14(sandbox, shop):
    assert error_code(post_form(sandbox.jos_url, form(shop, method="jingdong.no.such.method"))) == "15"
    params = form(shop)
    del params["method"]
    assert error_code(post_form(sandbox.jos_url, params)) == "14"


def test_unknown_app_key_is_21_and_missing_is_20(sandbox, shop):
    params = resign(form(shop, app_key="NOSUCHAPPKEY"), shop["app_secret"])
    assert error_code(post_form(sandbox.jos_url, params)) == "21"
    params = form(shop)
    del params["app_key"]
    assert error_code(post_form(sandbox.jos_url, params)) == "20"


def test_checks_run_in_jds_order(sandbox, shop):
    # unknown method wins over everything else that is wrong
    params = {"method": "nope", "app_key": "NOSUCH", "sign": "bad"}
    assert error_code(post_form(sandbox.jos_url, params)) == "15"
    # then app_key, before the timestamp and the sign
    params = {"method": BY_ID, "app_key": "NOSUCH", "sign": "bad"}
    assert error_code(post_form(sandbox.jos_url, params)) == "21"
    # then the timestamp, before the sign
    params = {"method": BY_ID, "app_key": shop["app_key"], "sign": "bad"}
    assert error_code(post_form(sandbox.jos_url, params)) == "7"


def test_parameters_in_the_query_string_are_accepted(sandbox, shop):
    import json
    import urllib.request
    from urllib.parse import urlencode

    url = f"{sandbox.jos_url}?{urlencode(form(shop))}"
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=5) as response:
        body(json.loads(response.read()), ORDER_SEARCH)


def test_every_check_is_in_the_call_log_with_its_code(sandbox, shop):
    post_form(sandbox.jos_url, form(shop, sign="0" * 32))
    post_form(sandbox.jos_url, form(shop))
    assert [(c["method"], c["code"], c["success"]) for c in sandbox.calls()] == [
        (ORDER_SEARCH, "12", None),
        (ORDER_SEARCH, "0", True),
    ]
