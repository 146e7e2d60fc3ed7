"""API keys: hashed at rest, shown once, revoked and expired keys refused, last use recorded,
throttled per key through the shared cache with 429 + Retry-After."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from api.keys import api_key_revoke
from api.models import ApiKey, hash_key
from core.audit import events_for
from tests.factories import ShopFactory

from .conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/raw-refunds/"


def test_key_is_stored_hashed_and_works(shop_key):
    shop, raw, key = shop_key
    key.refresh_from_db()
    assert raw not in (key.key_hash, key.lookup)
    assert key.key_hash == hash_key(raw)
    assert client_for(raw).get(URL).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    ["", "Bearer ", "Bearer erp_nothing", "Bearer erp_deadbeef_wrong", "Token abc", "Basic Zm9vOmJhcg=="],
)
def test_missing_or_bad_key_is_401_in_the_error_shape(db, header):
    from rest_framework.test import APIClient

    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(URL)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "not_authenticated" or body["code"] == "error"
    assert set(body) == {"code", "message", "errors"}
    assert "Traceback" not in response.content.decode()


def test_wrong_secret_with_a_real_lookup_is_refused(shop_key):
    _, raw, _ = shop_key
    tampered = raw[:-4] + ("aaaa" if not raw.endswith("aaaa") else "bbbb")
    assert client_for(tampered).get(URL).status_code == 401


def test_revoked_key_is_refused(shop_key):
    _, raw, key = shop_key
    api_key_revoke(key.pk, by="运营")
    response = client_for(raw).get(URL)
    assert response.status_code == 401
    assert "吊销" in response.json()["message"]
    assert [e.action for e in events_for(key)][0] == "吊销API密钥"


def test_expired_key_is_refused(shop_key):
    _, raw, key = shop_key
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(raw).get(URL)
    assert response.status_code == 401
    assert "过期" in response.json()["message"]


def test_command_prints_the_key_once_and_it_works(db):
    shop = ShopFactory(shop_no="JD-FLAGSHIP")
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "--shop", "JD-FLAGSHIP", "--name", "wms", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert raw.startswith("erp_")
    key = ApiKey.objects.get(shop=shop, name="wms")
    assert key.key_hash == hash_key(raw)
    assert client_for(raw).get(URL).status_code == 200


def test_command_refuses_unknown_shop_and_duplicate_name(shop_key):
    from django.core.management.base import CommandError

    shop, _, _ = shop_key
    with pytest.raises(CommandError, match="不存在"):
        call_command("create_api_key", "--shop", "NOPE", "--name", "x", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="已有名为"):
        call_command(
            "create_api_key", "--shop", shop.shop_no, "--name", "wms", stdout=StringIO(), stderr=StringIO()
        )


def test_throttled_per_key_with_retry_after(shop_key, other_key, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    client, other = client_for(shop_key[1]), client_for(other_key[1])
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(URL)
    assert response.status_code == 429
    # A sliding window: this minute's three still weigh in the next one (at most 2 minutes away).
    assert 1 <= int(response["Retry-After"]) <= 120
    assert response.json()["code"] == "throttled"
    assert "每分钟最多 3 次" in response.json()["message"]
    # Another key has its own count.
    assert other.get(URL).status_code == 200


def test_admin_creates_shows_once_and_revokes(client, django_user_model):
    from django.contrib.auth.models import Group

    from core.roles import apply_roles
    from tests.conftest import make_user

    shop = ShopFactory()
    if not Group.objects.filter(name="运营").exists():
        from django.apps import apps

        apply_roles(apps)
    ops = make_user(django_user_model, "ops_api", "运营")
    client.force_login(ops)
    response = client.post(
        "/admin/api/apikey/add/",
        {"shop": shop.pk, "name": "bi", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    key = ApiKey.objects.get(shop=shop, name="bi")
    raw = text.split('user-select:all">')[1].split("<")[0]
    assert hash_key(raw) == key.key_hash
    # Shown once: the key page never shows it again.
    again = client.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    assert raw not in again and "吊销密钥" in again
    client.post(f"/admin/api/apikey/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by_name == "ops_api"
    assert client_for(raw).get(URL).status_code == 401
