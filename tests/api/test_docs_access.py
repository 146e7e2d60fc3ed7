"""/api/schema/ and /api/docs/: open in development; in production only for staff logged in to the
back office or a caller with a valid API key."""

import pytest
from rest_framework.test import APIClient

from api.keys import api_key_revoke
from tests.api.conftest import client_for
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

SCHEMA, DOCS = "/api/schema/", "/api/docs/"


@pytest.fixture
def production(settings):
    settings.PRODUCTION = True


def test_development_keeps_them_open():
    for url in (SCHEMA, DOCS):
        assert APIClient().get(url).status_code == 200, url


def test_production_refuses_an_anonymous_schema_in_the_api_shape(production):
    response = APIClient().get(SCHEMA)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_authenticated"
    # Asked for as JSON too: still no schema.
    assert APIClient().get(SCHEMA, {"format": "json"}).status_code == 401


def test_production_sends_an_anonymous_docs_visitor_to_the_login(production):
    response = APIClient().get(DOCS)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/") and "next=/api/docs/" in response["Location"]


def test_production_serves_them_to_staff(production, client, django_user_model):
    client.force_login(make_user(django_user_model, "staff_docs"))
    schema = client.get(SCHEMA, {"format": "json"})
    assert schema.status_code == 200 and "/api/v1/raw-refunds/" in schema.json()["paths"]
    assert client.get(DOCS).status_code == 200


def test_production_refuses_a_logged_in_non_staff_user(production, client, django_user_model):
    user = django_user_model.objects.create_user(username="not_staff", password="pw-for-tests-1")
    client.force_login(user)
    response = client.get(SCHEMA)
    assert response.status_code == 403 and "员工" in response.json()["message"]
    assert client.get(DOCS).status_code == 302


def test_production_serves_the_schema_to_a_valid_key_only(production, shop_key):
    _, raw, key = shop_key
    response = client_for(raw).get(SCHEMA, {"format": "json"})
    assert response.status_code == 200 and "paths" in response.json()
    api_key_revoke(key.pk, by="测试")
    response = client_for(raw).get(SCHEMA)
    assert response.status_code == 401 and "吊销" in response.json()["message"]
    assert client_for("erp_nope_nope").get(SCHEMA).status_code == 401
