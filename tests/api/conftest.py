import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from api.keys import api_key_create
from tests.factories import ShopFactory


@pytest.fixture(autouse=True)
def _fresh_throttle_counts(settings):
    """Request counts live in the shared cache: each test starts from zero."""
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def shop_key(db):
    """(shop, raw key) for a fresh shop."""
    shop = ShopFactory()
    key, raw = api_key_create(shop=shop, name="wms", by="测试")
    return shop, raw, key


@pytest.fixture
def other_key(db):
    shop = ShopFactory()
    key, raw = api_key_create(shop=shop, name="wms", by="测试")
    return shop, raw, key


def client_for(raw) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api(shop_key):
    return client_for(shop_key[1])


@pytest.fixture
def other_api(other_key):
    return client_for(other_key[1])


@pytest.fixture
def local_receivers(settings):
    """Test receivers listen on 127.0.0.1 over http: opted in the way ops let an intranet receiver
    through. Without it the worker refuses both (tests/api/test_webhook_ssrf.py)."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
