"""Shops' JOS secrets: unreadable to every role on every page, encrypted in the database, and still
signing JD calls correctly (the sandbox checks the sign over real HTTP)."""

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection
from django.urls import reverse

from orders.models import ServiceOrderReturnSignal, Shop
from platforms.jd.client import JosClient, check_business_result

from .conftest import PASSWORD
from .factories import ShopFactory

pytestmark = pytest.mark.django_db

SECRET = "0f3c9a7be41d46a8b2c5e6f7a8b91234"
TOKEN = "d7e6a5b4-token-for-the-shop-5678"


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin_t", "admin@example.com", PASSWORD)


def stored_columns(shop):
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_secret, access_token FROM orders_shop WHERE id = %s", [shop.pk])
        return cursor.fetchone()


@pytest.mark.parametrize("role", ["cs_user", "ops_user", "admin_user"])
def test_no_role_sees_a_secret_on_the_shop_pages(client, request, role):
    user = request.getfixturevalue(role)
    shop = ShopFactory(app_secret=SECRET, access_token=TOKEN)
    client.force_login(user)
    pages = [
        reverse("admin:orders_shop_changelist"),
        reverse("admin:orders_shop_change", args=[shop.pk]),
        reverse("admin:orders_shop_history", args=[shop.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for secret in (SECRET, TOKEN, SECRET[:-4], TOKEN[:-4]):
            assert secret not in html, (role, url)
    change_page = client.get(pages[1]).content.decode()
    assert "已设置（尾号 1234）" in change_page and "已设置（尾号 5678）" in change_page
    # Only those who may change the shop get the inputs to type a new secret.
    can_change = role != "cs_user"
    assert ('name="app_secret"' in change_page) is can_change
    assert ('name="access_token"' in change_page) is can_change


def test_an_unset_secret_says_so(client, ops_user):
    shop = ShopFactory(app_secret="", access_token="")
    client.force_login(ops_user)
    html = client.get(reverse("admin:orders_shop_change", args=[shop.pk])).content.decode()
    assert html.count("未设置") >= 2


def test_changing_a_secret_records_when_and_blank_keeps_it(client, ops_user):
    shop = ShopFactory(app_secret=SECRET, access_token=TOKEN)
    assert shop.access_token_changed_at is None
    client.force_login(ops_user)
    url = reverse("admin:orders_shop_change", args=[shop.pk])
    form = {
        "platform": "jd",
        "shop_no": shop.shop_no,
        "name": shop.name,
        "vender_id": "",
        "app_key": shop.app_key,
        "app_secret": "",
        "access_token": "new-token-after-reauthorising-9999",
        "sa_writeback_enabled": "on",
        "service_order_return_signal": ServiceOrderReturnSignal.RECEIVE_REGISTER,
        "is_active": "on",
    }
    assert client.post(url, form).status_code == 302
    shop.refresh_from_db()
    assert shop.app_secret == SECRET and shop.app_secret_changed_at is None
    assert shop.access_token == "new-token-after-reauthorising-9999"
    assert shop.access_token_changed_at is not None
    html = client.get(url).content.decode()
    assert "已设置（尾号 9999），" in html and "修改" in html
    assert "new-token-after-reauthorising" not in html


def test_the_database_holds_no_plain_secret():
    shop = ShopFactory(app_secret=SECRET, access_token=TOKEN)
    stored_secret, stored_token = stored_columns(shop)
    assert SECRET not in stored_secret and TOKEN not in stored_token
    # The columns are Fernet tokens under the configured key, and Python reads the plain value back.
    key = Fernet(settings.FIELD_ENCRYPTION_KEY.split(",")[0].encode())
    assert key.decrypt(stored_secret.encode()).decode() == SECRET
    assert key.decrypt(stored_token.encode()).decode() == TOKEN
    reloaded = Shop.objects.get(pk=shop.pk)
    assert (reloaded.app_secret, reloaded.access_token) == (SECRET, TOKEN)
    assert SECRET not in repr(reloaded) and SECRET not in str(reloaded)


def test_a_second_key_rotates_without_losing_stored_secrets(settings):
    shop = ShopFactory(app_secret=SECRET, access_token=TOKEN)
    old_key = settings.FIELD_ENCRYPTION_KEY
    settings.FIELD_ENCRYPTION_KEY = f"{Fernet.generate_key().decode()},{old_key}"
    assert Shop.objects.get(pk=shop.pk).app_secret == SECRET


def test_the_decrypted_secret_signs_jos_calls_correctly(jd):
    """The sandbox knows the shop's secret and refuses a wrong sign (code 12), as JD does."""
    shop = Shop.objects.get(pk=jd.pk)  # read back through the database: decrypted, not the factory's copy
    assert stored_columns(shop)[0] != shop.app_secret
    client = JosClient.for_shop(shop)
    payload = client.call(
        "jingdong.pop.afs.soa.refundapply.queryPageList", {"ids": "1", "pageIndex": 1, "pageSize": 10}
    )
    check_business_result(payload, "queryResult")
    assert client.last_call["outcome"] == "ok"


def test_the_migration_encrypts_plain_values_left_by_earlier_versions():
    from importlib import import_module

    migration = import_module("orders.migrations.0006_shop_secrets_encrypted")
    shop = ShopFactory(app_secret="", access_token="")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE orders_shop SET app_secret = %s, access_token = %s WHERE id = %s",
            [SECRET, TOKEN, shop.pk],
        )

    class SchemaEditor:  # the one attribute the migration's function reads
        pass

    editor = SchemaEditor()
    editor.connection = connection
    migration.encrypt_existing(None, editor)
    migration.encrypt_existing(None, editor)  # a second run leaves tokens alone
    assert SECRET not in stored_columns(shop)[0]
    assert Shop.objects.get(pk=shop.pk).app_secret == SECRET
    migration.decrypt_existing(None, editor)
    assert stored_columns(shop) == (SECRET, TOKEN)
