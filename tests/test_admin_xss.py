"""Hostile search text on every admin list: the page answers normally and prints the text only
escaped. The admin theme used to write `?q=` into an inline script unescaped, so a link such as
/admin/orders/order/?q=</script><script>… ran its script for whoever opened it. Every registered
list is covered, including the ones added later."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.html import escape

from .conftest import make_user
from .factories import OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "</script><script>alert(1)</script>",
    "'-alert(1)-'",
    '"-alert(1)-"',
    "\\'-alert(1)//",
    "<img src=x onerror=alert(1)>",
    "{{constructor.constructor('alert(1)')()}}",
]

LISTS = sorted(
    (f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist" for m in admin.site._registry),
)


@pytest.fixture
def staff(client, django_user_model):
    user = make_user(django_user_model, "xss_admin", None, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def rows():
    # Something in the main lists, so their rows and filters are drawn too.
    RawRefundFactory(order_line=OrderLineFactory())


def inline_scripts(html):
    return re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)


@pytest.mark.parametrize("list_url", LISTS)
def test_every_list_prints_a_hostile_search_only_escaped(staff, rows, list_url):
    model_admin = next(
        ma for m, ma in admin.site._registry.items() if list_url.endswith(f"{m._meta.model_name}_changelist")
    )
    for payload in PAYLOADS:
        response = staff.get(reverse(list_url), {"q": payload})
        assert response.status_code == 200, (list_url, payload, response.status_code)
        html = response.content.decode()
        if "<" in payload or "'" in payload or '"' in payload:
            assert payload not in html, (list_url, payload)
        for script in inline_scripts(html):
            assert "alert(1)" not in script, (list_url, payload, script[:200])
        if model_admin.search_fields:
            # The search box still shows what was searched for (as the attribute the toolbar reads).
            assert f'data-query="{escape(payload)}"' in html, (list_url, payload)


def test_every_response_carries_the_policy_and_a_fresh_nonce(staff):
    first = staff.get(reverse("admin:refunds_rawrefund_changelist"))
    second = staff.get(reverse("admin:refunds_rawrefund_changelist"))
    nonces = [re.search(r"'nonce-([\w-]+)'", r["Content-Security-Policy"]).group(1) for r in (first, second)]
    assert nonces[0] != nonces[1]
    # Each inline script of the page carries the page's nonce; JSON data blocks are not run.
    html = first.content.decode()
    for tag in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html):
        assert f'nonce="{nonces[0]}"' in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline event handler"
    assert "javascript:" not in html
    for path in ("/api/docs/", "/admin/login/", "/admin/no-such-page/", "/healthz"):
        policy = staff.get(path)["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0], path
        assert "object-src 'none'" in policy and "frame-ancestors 'self'" in policy, path
