import pytest
from django.contrib.auth.models import Group
from django.db import connection

from sa_sync.sandbox.testing import start_sandbox

from .factories import RawRefundFactory, ShopFactory

PASSWORD = "pw-for-tests-1"


def pytest_collection_modifyitems(config, items):
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(
            reason="需要 PostgreSQL（行锁、skip_locked 在 SQLite 上不生效）：设置 DATABASE_URL 运行"
        )
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


def make_user(django_user_model, username, group=None, **extra):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, is_staff=True, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def cs_user(django_user_model):
    return make_user(django_user_model, "cs_t", "客服")


@pytest.fixture
def ops_user(django_user_model):
    return make_user(django_user_model, "ops_t", "运营")


@pytest.fixture
def warehouse_user(django_user_model):
    return make_user(django_user_model, "wh_t", "仓库")


@pytest.fixture
def outsider(django_user_model):
    """Staff, but in no group: must see nothing."""
    return make_user(django_user_model, "outsider_t")


@pytest.fixture
def shop(db):
    return ShopFactory()


@pytest.fixture
def slip(db):
    return RawRefundFactory()


@pytest.fixture(scope="session")
def sandbox():
    """The SA sandbox as a real subprocess on a free port, one for the whole test session."""
    process = start_sandbox(policy_delay=0.5)
    yield process
    process.stop()
