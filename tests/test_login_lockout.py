"""Login throttling: a few wrong passwords lock the user name and the address for a while, with a
page in Chinese that says until when; a success resets the count."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")


def post_login(client, username, password, address="10.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


def test_five_wrong_passwords_lock_the_user_even_with_the_right_one(client, cs_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert post_login(client, cs_user.username, "wrong").status_code == 200  # the form again
    locked = post_login(client, cs_user.username, "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "登录已暂时锁定" in page and "15 分钟" in page and 'id="retry-at"' in page
    # The right password does not get through while locked, from another address either.
    again = post_login(client, cs_user.username, PASSWORD, address="10.0.0.2")
    assert again.status_code == 429 and "_auth_user_id" not in client.session


def test_one_address_is_locked_across_user_names(client, cs_user, ops_user):
    for n in range(5):
        post_login(client, f"guess{n}", "wrong", address="10.9.9.9")
    # A real user from that address is refused too; from elsewhere they log in.
    assert post_login(client, ops_user.username, PASSWORD, address="10.9.9.9").status_code == 429
    assert post_login(client, ops_user.username, PASSWORD, address="10.1.1.1").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, cs_user):
    for _ in range(4):
        post_login(client, cs_user.username, "wrong")
    assert post_login(client, cs_user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        post_login(client, cs_user.username, "wrong")
    assert post_login(client, cs_user.username, PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(client, cs_user):
    for _ in range(5):
        post_login(client, cs_user.username, "wrong")
    assert post_login(client, cs_user.username, PASSWORD).status_code == 429
    # Fifteen minutes later, as axes sees it: the attempts are older than the cool-off.
    from datetime import timedelta

    from django.utils import timezone

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert post_login(client, cs_user.username, PASSWORD).status_code == 302
