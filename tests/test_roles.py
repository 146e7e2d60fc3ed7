import pytest
from django.contrib.auth.models import Group

from core.roles import ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db


def test_groups_have_exactly_their_permissions():
    for name, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        got = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert got == set(perms)


def test_only_customer_service_may_write_back(cs_user, ops_user, warehouse_user, outsider):
    assert cs_user.has_perm("refunds.writeback_rawrefund")
    for user in (ops_user, warehouse_user, outsider):
        assert not user.has_perm("refunds.writeback_rawrefund")


def test_only_ops_configure_shops(cs_user, ops_user, warehouse_user):
    assert ops_user.has_perm("orders.change_shop")
    assert not cs_user.has_perm("orders.change_shop")
    assert not warehouse_user.has_perm("orders.view_shop")
