"""The sandbox's OAuth at JD's paths, over real HTTP: the authorisation page and its code, the code
exchange, the refresh (a new access token, the old one refused with 19), the refusals in JD's shape
{code, msg, requestId}, the control route, and no secret in the call log, the views or the output."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.testing import jos_call

from .support import PAGE_LIST, body, error_code

CALLBACK = "http://erp.example.test/admin/orders/shop/jd-oauth/callback/"


@pytest.fixture
def oauth_shop(sandbox, shop):
    sandbox.set_token(shop["app_key"], refresh_token="rt-test-0123456789", access_token_expires_in=3600)
    return {**shop, "refresh_token": "rt-test-0123456789"}


def token_call(sandbox, path, **params):
    response = httpx.get(sandbox.url + path, params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(sandbox, shop, **override):
    params = {
        "app_key": shop["app_key"],
        "app_secret": shop["app_secret"],
        "grant_type": "refresh_token",
        "refresh_token": shop["refresh_token"],
        **override,
    }
    return token_call(sandbox, "/oauth2/refresh_token", **params)


def query(sandbox, shop, token):
    return jos_call(
        sandbox.jos_url,
        shop["app_key"],
        shop["app_secret"],
        token,
        PAGE_LIST,
        {"pageIndex": 1, "pageSize": 10},
    )


def authorise(sandbox, shop, decision="approve", state="st-1"):
    """The merchant's browser on the authorisation page: GET it, then press a button."""
    params = {
        "app_key": shop["app_key"],
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "state": state,
        "scope": "snsapi_base",
    }
    page = httpx.get(sandbox.url + "/oauth2/to_login", params=params, timeout=10)
    assert page.status_code == 200 and "同意授权" in page.text and shop["name"] in page.text
    answer = httpx.post(sandbox.url + "/oauth2/to_login", data={**params, "decision": decision}, timeout=10)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_a_refresh_issues_a_new_access_token_and_the_old_one_stops_working(sandbox, oauth_shop):
    assert "code" in body(query(sandbox, oauth_shop, oauth_shop["access_token"]), PAGE_LIST)
    before = time.time()
    answer = refresh(sandbox, oauth_shop)

    assert answer["code"] == 0
    assert answer["access_token"] and answer["access_token"] != oauth_shop["access_token"]
    assert (
        answer["expires_in"] == 86400
        and answer["token_type"] == "bearer"
        and answer["scope"] == "snsapi_base"
    )
    assert answer["refresh_token"] == oauth_shop["refresh_token"]  # kept until its own end
    assert before * 1000 - 1000 <= answer["time"] <= time.time() * 1000 + 1000  # milliseconds
    assert answer["open_id"] and answer["uid"]
    assert error_code(query(sandbox, oauth_shop, oauth_shop["access_token"])) == "19"
    body(query(sandbox, oauth_shop, answer["access_token"]), PAGE_LIST)
    token = sandbox.token(oauth_shop["app_key"])
    assert token["access_token_expired"] is False and token["has_refresh_token"] is True


def test_an_expired_access_token_is_refused_with_19(sandbox, oauth_shop):
    sandbox.set_token(oauth_shop["app_key"], expire_access_token=True)
    assert error_code(query(sandbox, oauth_shop, oauth_shop["access_token"])) == "19"
    assert sandbox.token(oauth_shop["app_key"])["access_token_expired"] is True
    # The refresh still works: the refresh token is not the access token.
    fresh = refresh(sandbox, oauth_shop)["access_token"]
    body(query(sandbox, oauth_shop, fresh), PAGE_LIST)


@pytest.mark.parametrize(
    "override, setup, code, words",
    [
        ({"app_key": "NOSUCHAPP"}, {}, 1001, "app_key无效"),
        ({"app_secret": "wrong-secret"}, {}, 1002, "app_secret错误"),
        ({"grant_type": "authorization_code"}, {}, 1003, "grant_type无效"),
        ({"refresh_token": "rt-someone-else"}, {}, 1005, "refresh_token无效"),
        ({}, {"revoke_refresh_token": True}, 1007, "授权已失效"),
        ({}, {"refresh_token_expires_in": 0}, 1006, "refresh_token已过期"),
    ],
)
def test_refusals_come_in_jds_shape_and_change_nothing(sandbox, oauth_shop, override, setup, code, words):
    if setup:
        sandbox.set_token(oauth_shop["app_key"], **setup)
    answer = refresh(sandbox, oauth_shop, **override)
    assert answer["code"] == code and words in answer["msg"] and answer["requestId"]
    assert "access_token" not in answer
    body(query(sandbox, oauth_shop, oauth_shop["access_token"]), PAGE_LIST)  # still the old token


def test_the_code_flow_issues_new_tokens_and_a_code_works_once(sandbox, oauth_shop):
    back = authorise(sandbox, oauth_shop, state="opaque-state-42")
    assert back["state"] == "opaque-state-42" and back["code"]
    params = {
        "app_key": oauth_shop["app_key"],
        "app_secret": oauth_shop["app_secret"],
        "grant_type": "authorization_code",
        "code": back["code"],
    }
    answer = token_call(sandbox, "/oauth2/access_token", **params)
    assert answer["code"] == 0 and answer["expires_in"] == 86400
    assert answer["refresh_token"] and answer["refresh_token"] != oauth_shop["refresh_token"]
    assert answer["refresh_token_expires"] > time.time() * 1000 + 300 * 86400 * 1000
    body(query(sandbox, oauth_shop, answer["access_token"]), PAGE_LIST)
    assert error_code(query(sandbox, oauth_shop, oauth_shop["access_token"])) == "19"
    # The old refresh token belongs to the previous authorisation.
    assert refresh(sandbox, oauth_shop)["code"] == 1005
    assert refresh(sandbox, oauth_shop, refresh_token=answer["refresh_token"])["code"] == 0

    again = token_call(sandbox, "/oauth2/access_token", **params)
    assert again["code"] == 1004 and "code无效" in again["msg"]


def test_refusing_on_the_page_sends_the_browser_back_with_an_error(sandbox, oauth_shop):
    back = authorise(sandbox, oauth_shop, decision="deny", state="s-9")
    assert back == {"error": "access_denied", "error_description": "用户拒绝授权", "state": "s-9"}


@pytest.mark.parametrize(
    "override, problem",
    [
        ({"app_key": "NOSUCHAPP"}, "app_key无效"),
        ({"response_type": "token"}, "response_type必须为code"),
        ({"redirect_uri": "javascript:alert(1)"}, "redirect_uri无效"),
    ],
)
def test_a_bad_authorisation_request_gets_a_page_saying_what_is_wrong(sandbox, oauth_shop, override, problem):
    params = {
        "app_key": oauth_shop["app_key"],
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "state": "s",
        **override,
    }
    page = httpx.get(sandbox.url + "/oauth2/to_login", params=params, timeout=10)
    assert page.status_code == 400 and problem in page.text


def test_the_control_route_names_a_bad_field(sandbox, oauth_shop):
    from sandbox.testing import SandboxError

    with pytest.raises(SandboxError) as refused:
        sandbox.set_token(oauth_shop["app_key"], expire_now=True)
    assert refused.value.status == 400 and "body.expire_now" in str(refused.value)
    with pytest.raises(SandboxError) as unknown:
        sandbox.set_token("NOSUCHAPP", expire_access_token=True)
    assert unknown.value.status == 400 and "unknown shop" in str(unknown.value)


def test_no_secret_reaches_the_call_log_the_views_or_the_output(sandbox, oauth_shop):
    answer = refresh(sandbox, oauth_shop)
    back = authorise(sandbox, oauth_shop)
    exchanged = token_call(
        sandbox,
        "/oauth2/access_token",
        app_key=oauth_shop["app_key"],
        app_secret=oauth_shop["app_secret"],
        grant_type="authorization_code",
        code=back["code"],
    )
    secrets = [
        oauth_shop["app_secret"],
        oauth_shop["refresh_token"],
        answer["access_token"],
        exchanged["access_token"],
        exchanged["refresh_token"],
        back["code"],
    ]
    calls = [c for c in sandbox.calls() if c["method"].startswith("oauth2.")]
    assert [c["method"] for c in calls] == ["oauth2.refresh_token", "oauth2.access_token"]
    assert all(c["params"] == {} for c in calls)
    shown = repr(sandbox.calls()) + repr(sandbox.shops()) + repr(sandbox.token(oauth_shop["app_key"]))
    output = sandbox.output()
    for secret in secrets:
        assert secret not in shown
        assert secret not in output
