"""JD authorisation and token refresh, against the sandbox over real HTTP (it plays JD's OAuth too).

- a token near its expiry is refreshed by the scheduled sweep; the new token works, the old one not;
- a refresh JD refuses stops the shop's calls (sync, auto-writeback, further refreshes), says why and
  what to do on the shop's page and on the dashboard, and loses nothing: the slips wait (未回传, or
  回传失败 with a retry time) and go once the shop is authorised again (here: tokens pasted);
- 去京东授权 end to end through the admin, JD (the sandbox) sending the browser back with a code;
  a bad, expired or foreign state is refused and nothing is stored;
- 立即刷新授权 asks first, and only those who may change the shop may use it;
- no token or secret in any page, log line or event.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core import signing
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.models import Event
from orders.models import ServiceOrderReturnSignal, Shop
from platforms.jd import oauth
from refunds.models import WritebackStatus
from sa_sync import auto_writeback, credentials, platform_sync
from sa_sync.models import AutoWritebackRun
from sa_sync.writeback import refund_writeback
from sandbox.testing import jos_call

from .conftest import make_user, seed_applications
from .factories import RawRefundFactory, ShopFactory

pytestmark = pytest.mark.django_db

PAGE_LIST = "jingdong.pop.afs.soa.refundapply.queryPageList"
WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
REFRESH_TOKEN = "rt-shop-refresh-0123456789abcdef"


@pytest.fixture
def jd_oauth(jd, sandbox, settings):
    """conftest's `jd` shop, with a refresh token both sides know and JD's OAuth at the sandbox."""
    settings.JD_OAUTH_ENDPOINT = sandbox.url
    settings.JOS_MAX_RETRIES = 0
    settings.JD_TOKEN_REFRESH_BEFORE_HOURS = 24
    give_tokens(sandbox, jd, expires_in=timedelta(hours=2))
    return Shop.objects.get(pk=jd.pk)


def give_tokens(
    sandbox, shop, *, expires_in: timedelta, refresh_token=REFRESH_TOKEN, got_ago=timedelta(hours=22)
):
    sandbox.set_token(
        shop.app_key, refresh_token=refresh_token, access_token_expires_in=int(expires_in.total_seconds())
    )
    now = timezone.now()
    Shop.objects.filter(pk=shop.pk).update(
        refresh_token=refresh_token,
        access_token_expires_at=now + expires_in,
        access_token_changed_at=now - got_ago,
    )


def jd_shop(sandbox, **fields) -> Shop:
    """Another shop both sides know."""
    shop = ShopFactory(**fields)
    sandbox.seed_shop(
        app_key=shop.app_key, app_secret=shop.app_secret, access_token=shop.access_token, shop_no=shop.shop_no
    )
    return shop


def works_at_jd(sandbox, shop, token) -> bool:
    answer = jos_call(sandbox.jos_url, shop.app_key, shop.app_secret, token, PAGE_LIST, {"pageIndex": 1})
    return "error_response" not in answer


def oauth_calls(sandbox, shop):
    return [c for c in sandbox.calls(app_key=shop.app_key) if c["method"].startswith("oauth2.")]


def events(shop, action):
    return list(Event.objects.filter(object_id=shop.pk, content_type__model="shop", action=action))


def refundable_slips(sandbox, shop, n):
    slips = [RawRefundFactory(order_line__order__shop=shop) for _ in range(n)]
    seed_applications(sandbox, slips)
    return slips


def approve_at_jd(location: str) -> str:
    """The merchant's browser at JD's authorisation page (the sandbox's): open it, press 同意授权;
    returns where JD sends the browser back to."""
    page = httpx.get(location, timeout=10)
    assert page.status_code == 200 and "同意授权" in page.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    split = urlsplit(location)
    answer = httpx.post(f"{split.scheme}://{split.netloc}{split.path}", data={**query, "decision": "approve"})
    assert answer.status_code == 302
    return answer.headers["Location"]


def start_authorising(client, shop) -> str:
    """去京东授权 on the shop's page: the page that says where it goes; returns its link to JD."""
    page = client.get(reverse("admin:orders_shop_jd_authorize", args=[shop.pk]))
    assert page.status_code == 200
    link = re.search(r'href="([^"]+)"[^>]*id="go-to-jd"', page.content.decode())
    return html.unescape(link.group(1))


def tokens_from_jd(sandbox, shop) -> dict:
    """A new authorisation done at JD directly (what ops do before pasting tokens)."""
    params = {
        "app_key": shop.app_key,
        "response_type": "code",
        "redirect_uri": "https://erp.example.test/cb",
        "state": "x",
    }
    location = approve_at_jd(f"{sandbox.url}/oauth2/to_login?{httpx.QueryParams(params)}")
    code = parse_qs(urlsplit(location).query)["code"][0]
    answer = httpx.get(
        f"{sandbox.url}/oauth2/access_token",
        params={
            "app_key": shop.app_key,
            "app_secret": shop.app_secret,
            "grant_type": "authorization_code",
            "code": code,
        },
    ).json()
    assert answer["code"] == 0
    return answer


def shop_form(shop, **values):
    return {
        "platform": "jd",
        "shop_no": shop.shop_no,
        "name": shop.name,
        "vender_id": shop.vender_id,
        "app_key": shop.app_key,
        "app_secret": "",
        "access_token": "",
        "access_token_expires_at_0": "",
        "access_token_expires_at_1": "",
        "refresh_token": "",
        "sa_writeback_enabled": "on",
        "service_order_return_signal": ServiceOrderReturnSignal.RECEIVE_REGISTER,
        "is_active": "on",
        **values,
    }


# --- the scheduled refresh ------------------------------------------------------------------------
def test_beat_has_the_sweep():
    task = PeriodicTask.objects.get(task="sa_sync.refresh_expiring_tokens")
    assert task.enabled and task.interval.every == 30 * 60


def test_a_token_near_its_expiry_is_refreshed_by_the_scheduled_sweep(sandbox, jd_oauth):
    later = jd_shop(sandbox)
    give_tokens(sandbox, later, expires_in=timedelta(days=5), refresh_token="rt-later-0123456789")
    no_refresh = jd_shop(sandbox)
    Shop.objects.filter(pk=no_refresh.pk).update(access_token_expires_at=timezone.now() + timedelta(hours=1))
    old_token = jd_oauth.access_token

    outcomes = credentials.refresh_expiring_tokens()

    assert [(o.shop_id, o.ok) for o in outcomes] == [(jd_oauth.pk, True)]
    shop = Shop.objects.get(pk=jd_oauth.pk)
    assert shop.access_token != old_token
    assert timedelta(hours=23) < shop.access_token_expires_at - timezone.now() <= timedelta(hours=24)
    assert shop.token_refreshed_at is not None and shop.refresh_token == REFRESH_TOKEN
    assert not works_at_jd(sandbox, shop, old_token) and works_at_jd(sandbox, shop, shop.access_token)
    assert [len(oauth_calls(sandbox, s)) for s in (jd_oauth, later, no_refresh)] == [1, 0, 0]
    (event,) = events(shop, "刷新授权")
    assert event.actor_name == credentials.SCHEDULE_ACTOR
    assert "定时刷新：Access Token 将于" in event.reason and "有效期至" in event.reason
    # The next sweep finds nothing due: a fresh one-day token waits for the last half of its life.
    assert credentials.refresh_expiring_tokens() == []
    run = platform_sync.shop_sync(shop, kind="refunds")
    assert run.status == "succeeded", run.error


def test_a_token_pasted_without_its_expiry_is_refreshed_to_learn_it(sandbox, jd_oauth):
    Shop.objects.filter(pk=jd_oauth.pk).update(access_token_expires_at=None)
    assert [s.pk for s in credentials.shops_with_tokens_expiring(credentials.refresh_window())] == [
        jd_oauth.pk
    ]
    (outcome,) = credentials.refresh_expiring_tokens()
    assert outcome.ok and Shop.objects.get(pk=jd_oauth.pk).access_token_expires_at is not None


def test_jd_not_answering_changes_nothing_and_the_next_sweep_tries_again(sandbox, jd_oauth, settings):
    settings.JD_OAUTH_ENDPOINT = "http://127.0.0.1:9"  # nothing listens there
    (outcome,) = credentials.refresh_expiring_tokens()
    assert not outcome.ok and not outcome.refused and "无法连接京东授权服务" in outcome.message
    shop = Shop.objects.get(pk=jd_oauth.pk)
    assert shop.credential_error == "" and shop.token_refresh_claimed_at is None
    assert shop.access_token == jd_oauth.access_token
    assert [s.pk for s in credentials.shops_with_tokens_expiring(credentials.refresh_window())] == [shop.pk]


# --- a refused refresh --------------------------------------------------------------------------
def test_a_refused_refresh_stops_the_shop_says_why_and_the_slips_go_after_reauthorising(
    sandbox, jd_oauth, client, cs_user, ops_user
):
    waiting, failing = refundable_slips(sandbox, jd_oauth, 2)
    auto_writeback.auto_writeback_rule_save(jd_oauth, {"enabled": True}, by="测试")
    sandbox.set_token(jd_oauth.app_key, revoke_refresh_token=True)

    (outcome,) = credentials.refresh_expiring_tokens()

    assert outcome.refused
    cause = "京东拒绝刷新授权（京东返回：授权已失效，请重新授权，错误码 1007）：请运营在「店铺」页点击「去京东授权」重新授权"
    shop = Shop.objects.get(pk=jd_oauth.pk)
    assert shop.credential_error == cause and shop.token_refresh_refused_at is not None
    assert events(shop, "刷新授权失败")[0].reason.endswith(cause)

    # The shop's calls stop, although JD still takes its access token for a few hours.
    assert works_at_jd(sandbox, shop, shop.access_token)
    sandbox.clear_calls()
    assert jd_oauth.pk not in {shop_id for shop_id, _ in platform_sync.syncs_to_queue()}
    run = auto_writeback.auto_writeback_run(shop.pk)
    assert run.status == AutoWritebackRun.Status.SKIPPED and cause in run.note
    assert credentials.refresh_expiring_tokens() == []  # not asked again: JD said no
    assert sandbox.calls(app_key=shop.app_key) == []

    # Customer service still may try by hand; once the token has expired JD refuses it (19): the
    # slip fails with a retry time, and the shop keeps the cause that says what to do.
    sandbox.set_token(shop.app_key, expire_access_token=True)
    (result,) = refund_writeback([failing.pk], by=cs_user)
    assert not result.succeeded
    failing.refresh_from_db()
    assert failing.writeback_status == WritebackStatus.FAILED and failing.next_attempt_at is not None
    assert "access_token 失效" in failing.writeback_message
    assert Shop.objects.get(pk=shop.pk).credential_error == cause

    # Ops see it on the shop's page, everyone on the dashboard.
    client.force_login(ops_user)
    page = client.get(reverse("admin:orders_shop_change", args=[shop.pk])).content.decode()
    assert f"授权异常：{cause}" in page and 'id="jd-authorize"' in page
    client.force_login(cs_user)
    dashboard = client.get(reverse("admin:erp_dashboard")).content.decode()
    assert cause in dashboard and "同步和自动回传已暂停" in dashboard

    # Re-authorised: ops paste the tokens of a new authorisation at JD.
    fresh = tokens_from_jd(sandbox, shop)
    expires = timezone.localtime(timezone.now() + timedelta(seconds=fresh["expires_in"]))
    client.force_login(ops_user)
    form = shop_form(
        shop,
        access_token=fresh["access_token"],
        refresh_token=fresh["refresh_token"],
        access_token_expires_at_0=f"{expires:%Y-%m-%d}",
        access_token_expires_at_1=f"{expires:%H:%M:%S}",
    )
    assert client.post(reverse("admin:orders_shop_change", args=[shop.pk]), form).status_code == 302
    shop = Shop.objects.get(pk=shop.pk)
    assert shop.credential_error == "" and shop.token_refresh_refused_at is None
    assert shop.refresh_token == fresh["refresh_token"] and shop.access_token_expires_at is not None
    assert jd_oauth.pk in {shop_id for shop_id, _ in platform_sync.syncs_to_queue()}

    # The next rule run after the retry time sends both: nothing was lost.
    auto_writeback.auto_writeback_run(shop.pk, now=timezone.now() + timedelta(hours=1))
    for slip in (waiting, failing):
        slip.refresh_from_db()
        assert slip.writeback_status == WritebackStatus.SUCCEEDED, slip.writeback_message
    sent = sorted(str(c["params"]["refId"]) for c in sandbox.calls(method=WRITEBACK, app_key=shop.app_key))
    assert sent == sorted([waiting.refund_no, failing.refund_no])


def test_a_refresh_token_past_its_end_is_refused_without_asking(sandbox, jd_oauth):
    Shop.objects.filter(pk=jd_oauth.pk).update(refresh_token_expires_at=timezone.now() - timedelta(minutes=1))
    (outcome,) = credentials.refresh_expiring_tokens()
    assert outcome.refused and "refresh_token 已于" in outcome.message and "过期" in outcome.message
    assert oauth_calls(sandbox, jd_oauth) == []
    assert Shop.objects.get(pk=jd_oauth.pk).token_refresh_refused_at is not None


def test_two_refreshes_at_once_spend_the_refresh_token_once(sandbox, jd_oauth):
    """The second finds the first's claim on the shop row and asks JD nothing."""
    Shop.objects.filter(pk=jd_oauth.pk).update(token_refresh_claimed_at=timezone.now())
    outcome = credentials.shop_refresh_token(jd_oauth, by="测试")
    assert not outcome.ok and "正在刷新授权" in outcome.message
    assert oauth_calls(sandbox, jd_oauth) == []
    # A claim older than the lease is a refresh that died: the next one goes ahead.
    Shop.objects.filter(pk=jd_oauth.pk).update(token_refresh_claimed_at=timezone.now() - timedelta(minutes=5))
    assert credentials.shop_refresh_token(jd_oauth, by="测试").ok


# --- 立即刷新授权 ----------------------------------------------------------------------------------
def test_refresh_now_asks_first_then_refreshes(sandbox, jd_oauth, client, ops_user, cs_user):
    url = reverse("admin:orders_shop_refresh_token", args=[jd_oauth.pk])
    client.force_login(cs_user)
    assert client.get(url).status_code == 403 and client.post(url).status_code == 403

    client.force_login(ops_user)
    page = client.get(url).content.decode()
    assert "确认刷新授权" in page and "剩余" in page
    assert oauth_calls(sandbox, jd_oauth) == []  # looking sends nothing
    response = client.post(url, follow=True)
    assert "已获得新的 Access Token，有效期至" in response.content.decode()
    shop = Shop.objects.get(pk=jd_oauth.pk)
    assert shop.access_token != jd_oauth.access_token
    (event,) = events(shop, "刷新授权")
    assert event.actor == ops_user and event.reason.startswith("立即刷新授权；")


def test_refresh_now_on_a_shop_without_refresh_token_says_what_to_do(client, ops_user):
    shop = ShopFactory()
    client.force_login(ops_user)
    page = client.post(
        reverse("admin:orders_shop_refresh_token", args=[shop.pk]), follow=True
    ).content.decode()
    assert "无法刷新授权：店铺未设置 Refresh Token。请点击「去京东授权」，或填写后保存。" in page


# --- 去京东授权: the code flow through the admin ------------------------------------------------------
def test_the_code_flow_end_to_end_through_the_admin(sandbox, jd_oauth, client, ops_user):
    client.force_login(ops_user)
    page = client.get(reverse("admin:orders_shop_jd_authorize", args=[jd_oauth.pk])).content.decode()
    assert "http://testserver/admin/orders/shop/jd-oauth/callback/" in page  # what the JD app must register
    assert oauth_calls(sandbox, jd_oauth) == []
    location = start_authorising(client, jd_oauth)
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{sandbox.url}/oauth2/to_login?")
    assert query["app_key"] == [jd_oauth.app_key] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/admin/orders/shop/jd-oauth/callback/"]
    assert query["scope"] == ["snsapi_base"] and query["state"]

    back = approve_at_jd(location)
    assert back.startswith("http://testserver/admin/orders/shop/jd-oauth/callback/?")
    landed = client.get(back, follow=True)
    assert landed.redirect_chain[-1][0] == reverse("admin:orders_shop_change", args=[jd_oauth.pk])
    assert "已通过京东授权：已获得新的 Access Token，有效期至" in landed.content.decode()

    shop = Shop.objects.get(pk=jd_oauth.pk)
    assert shop.access_token != jd_oauth.access_token and shop.refresh_token != REFRESH_TOKEN
    assert shop.refresh_token_expires_at - timezone.now() > timedelta(days=300)
    assert works_at_jd(sandbox, shop, shop.access_token)
    (event,) = events(shop, "京东授权")
    assert event.actor == ops_user
    # The new refresh token is the one JD now takes.
    assert credentials.shop_refresh_token(shop, by="测试").ok

    # The same answer twice: JD's code works once; nothing changes.
    before = Shop.objects.get(pk=shop.pk)
    replay = client.get(back, follow=True).content.decode()
    assert (
        "京东拒绝换取令牌（京东返回：code无效或已过期，错误码 1004）：请回到「店铺」页重新点击「去京东授权」"
        in replay
    )
    after = Shop.objects.get(pk=shop.pk)
    assert (after.access_token, after.refresh_token) == (before.access_token, before.refresh_token)
    assert after.credential_error == ""  # a refused code is the person's to retry, not the shop's state
    assert events(shop, "京东授权失败")


def test_authorising_needs_the_apps_key_and_secret_first(client, ops_user):
    shop = ShopFactory(app_secret="")
    client.force_login(ops_user)
    page = client.get(reverse("admin:orders_shop_jd_authorize", args=[shop.pk]), follow=True).content.decode()
    assert "去京东授权前请先填写并保存店铺的 App Key 和 App Secret" in page


@pytest.mark.parametrize("case", ["tampered", "expired", "other_user", "missing"])
def test_a_bad_state_is_refused_and_nothing_is_stored(
    sandbox, jd_oauth, client, ops_user, django_user_model, monkeypatch, case
):
    import orders.admin

    client.force_login(ops_user)
    back = approve_at_jd(start_authorising(client, jd_oauth))
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    callback = reverse("admin:orders_shop_jd_oauth_callback")
    expected = "未保存任何授权信息，请回到「店铺」页重新点击「去京东授权」。"
    if case == "tampered":
        query["state"] = query["state"][:-2] + ("AA" if not query["state"].endswith("AA") else "BB")
        expected = "京东授权回调无效（state 校验失败，链接不完整或被改动）：" + expected
    elif case == "expired":
        monkeypatch.setattr(orders.admin, "OAUTH_STATE_MAX_AGE_SECONDS", -1)
        expected = "京东授权回调已过期"
    elif case == "other_user":
        client.force_login(make_user(django_user_model, "ops_other", "运营"))
        expected = "这次京东授权不是由当前登录用户发起的：" + expected
    else:
        query.pop("state")
        expected = "state 校验失败"
    page = client.get(callback, query, follow=True).content.decode()
    assert expected in page
    shop = Shop.objects.get(pk=jd_oauth.pk)
    assert (shop.access_token, shop.refresh_token) == (jd_oauth.access_token, REFRESH_TOKEN)
    assert events(shop, "京东授权") == []


def test_a_state_for_a_shop_the_user_may_not_change_is_refused(sandbox, jd_oauth, client, cs_user):
    state = signing.dumps({"shop": jd_oauth.pk, "user": cs_user.pk}, salt="orders.shop.jd-oauth")
    client.force_login(cs_user)
    response = client.get(reverse("admin:orders_shop_jd_oauth_callback"), {"state": state, "code": "x"})
    assert response.status_code == 403
    assert client.get(reverse("admin:orders_shop_jd_authorize", args=[jd_oauth.pk])).status_code == 403


def test_the_merchant_refusing_at_jd_changes_nothing(sandbox, jd_oauth, client, ops_user):
    client.force_login(ops_user)
    state = parse_qs(urlsplit(start_authorising(client, jd_oauth)).query)["state"][0]
    page = client.get(
        reverse("admin:orders_shop_jd_oauth_callback"),
        {"state": state, "error": "access_denied", "error_description": "用户拒绝授权"},
        follow=True,
    ).content.decode()
    assert "京东未完成授权（用户拒绝授权），店铺授权未修改。" in page
    assert Shop.objects.get(pk=jd_oauth.pk).access_token == jd_oauth.access_token


# --- pasting tokens -----------------------------------------------------------------------------
def test_pasted_tokens_are_write_only_and_a_new_token_forgets_the_old_expiry(
    sandbox, jd_oauth, client, ops_user
):
    client.force_login(ops_user)
    url = reverse("admin:orders_shop_change", args=[jd_oauth.pk])
    page = client.get(url).content.decode()
    assert 'name="refresh_token"' in page and "已设置（尾号 cdef）" in page and "剩余" in page
    assert REFRESH_TOKEN not in page

    form = shop_form(jd_oauth, access_token="pasted-access-token-000000001111")
    assert client.post(url, form).status_code == 302
    shop = Shop.objects.get(pk=jd_oauth.pk)
    assert shop.access_token == "pasted-access-token-000000001111"
    assert shop.refresh_token == REFRESH_TOKEN  # blank keeps it
    assert shop.access_token_expires_at is None  # the old token's end says nothing about this one
    assert "到期时间未知" in client.get(url).content.decode()


# --- secrets --------------------------------------------------------------------------------------
def test_no_token_or_secret_in_pages_logs_or_events(sandbox, jd_oauth, client, ops_user, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(ops_user)
    back = approve_at_jd(start_authorising(client, jd_oauth))
    code = parse_qs(urlsplit(back).query)["code"][0]
    client.get(back)
    authorised = Shop.objects.get(pk=jd_oauth.pk)
    credentials.shop_refresh_token(authorised, by=ops_user)
    sandbox.set_token(jd_oauth.app_key, revoke_refresh_token=True)
    credentials.shop_refresh_token(Shop.objects.get(pk=jd_oauth.pk), by=ops_user)
    shop = Shop.objects.get(pk=jd_oauth.pk)
    secrets = {
        jd_oauth.app_secret,
        jd_oauth.access_token,
        REFRESH_TOKEN,
        authorised.access_token,
        shop.access_token,
        shop.refresh_token,
        code,
    }

    pages = [
        reverse("admin:orders_shop_changelist"),
        reverse("admin:orders_shop_change", args=[shop.pk]),
        reverse("admin:orders_shop_history", args=[shop.pk]),
        reverse("admin:orders_shop_refresh_token", args=[shop.pk]),
        reverse("admin:orders_shop_jd_authorize", args=[shop.pk]),
        reverse("admin:erp_dashboard"),
    ]
    html = "".join(client.get(url).content.decode() for url in pages)
    reasons = " ".join(Event.objects.values_list("reason", flat=True))
    for secret in secrets:
        assert secret not in html
        assert secret not in caplog.text
        assert secret not in reasons
        assert secret not in sandbox.output()
    assert "jd oauth path=/oauth2/refresh_token" in caplog.text  # the calls are logged, without the query
    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_token FROM orders_shop WHERE id = %s", [shop.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("gAAAAA") and shop.refresh_token not in stored


# --- JD's answers, parsed (the shapes of docs/sandbox.md) -----------------------------------------
def test_jds_success_answer_parses_with_numbers_as_strings_or_numbers():
    now = timezone.now()
    millis = int(now.timestamp() * 1000)
    # The shape of JD's answer as public clients record it (docs/sandbox.md): expires_in in
    # seconds, time in milliseconds; some answers carry refresh_token_expires (milliseconds).
    answer = {
        "access_token": "c9f997d0e44d4f118033c6e8e329f9e0zdbl",
        "expires_in": 31535999,
        "refresh_token": "c293b96a03a94013a471e50ebc3d2f9czi5m",
        "scope": "snsapi_base",
        "open_id": "PjmgY-ntsszAW81q9NRErnrUTVHhD-HC64HuspupG8Q",
        "uid": "8474668550",
        "time": millis,
        "token_type": "bearer",
        "code": 0,
        "xid": "o*AASTnxHZ0sdNj9M3XhiMqYf0NTViY_IfFlQem3U6w1lv-neCalw",
    }
    grant = oauth.parse_grant(answer, now=now)
    assert grant.access_token == answer["access_token"] and grant.refresh_token == answer["refresh_token"]
    assert abs((grant.access_token_expires_at - now).total_seconds() - 31535999) < 1
    assert grant.refresh_token_expires_at is None and grant.uid == "8474668550"
    assert answer["access_token"] not in repr(grant)
    as_strings = oauth.parse_grant(
        {**answer, "expires_in": "86400", "time": str(millis), "refresh_token_expires": str(millis + 10**10)},
        now=now,
    )
    assert abs((as_strings.access_token_expires_at - now).total_seconds() - 86400) < 1
    assert abs((as_strings.refresh_token_expires_at - now).total_seconds() - 10**7) < 1
    # JD's clock far off: the moment the answer arrived dates the grant instead.
    skewed = oauth.parse_grant({**answer, "expires_in": 3600, "time": millis - 5 * 3600 * 1000}, now=now)
    assert abs((skewed.access_token_expires_at - now).total_seconds() - 3600) < 1


def test_jds_refusal_keeps_its_words_without_the_secrets():
    with pytest.raises(oauth.OAuthError) as refused:
        oauth.parse_grant(
            {"code": 403, "msg": "refresh_token rt-SECRET-1 已失效", "requestId": "abc"},
            secrets=("rt-SECRET-1",),
        )
    error = refused.value
    assert error.refused and not error.retryable and error.code == "403"
    assert error.user_message == (
        "京东拒绝刷新授权（京东返回：refresh_token *** 已失效，错误码 403）：请运营在「店铺」页点击「去京东授权」重新授权"
    )
    with pytest.raises(oauth.OAuthError) as empty:
        oauth.parse_grant({"code": 0})
    assert empty.value.retryable  # a success without a token is no grant: try again later
