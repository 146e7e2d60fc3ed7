import pytest
from django.contrib.auth.models import Group
from django.db import connection

from sandbox.testing import start_sandbox

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
        if not Group.objects.filter(name=group).exists():
            # A transactional test flushed what the migrations created: put the roles back.
            from django.apps import apps

            from core.roles import apply_roles

            apply_roles(apps)
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


@pytest.fixture
def jd(sandbox, settings):
    """A shop known to both sides: the sandbox plays its JD, the back office points at the sandbox."""
    sandbox.reset()
    settings.JOS_ENDPOINT = sandbox.jos_url
    shop = ShopFactory()
    sandbox.seed_shop(
        app_key=shop.app_key,
        app_secret=shop.app_secret,
        access_token=shop.access_token,
        shop_no=shop.shop_no,
        name=shop.name,
        vender_id=shop.vender_id,
    )
    return shop


def _sku_of(slip) -> str:
    return slip.oid[len(slip.tid) + 1 :] if slip.oid.startswith(f"{slip.tid}-") else ""


def seed_applications(sandbox, slips):
    """JD's side of local slips, each as the JD object it came from (a refund application, or a
    service order for returns, exchanges, repairs and reissues), same ids (the sandbox refuses an
    unknown one, as JD does), in the JD state that maps back to the slip's platform status (the fresh
    read before a writeback takes JD's state over)."""
    from platforms.jd.demo import JD_STATUS_FOR_PLATFORM, jd_service_order_item
    from refunds.models import PlatformObject

    applications, service_orders = {}, {}
    for slip in slips:
        if slip.platform_object == PlatformObject.SERVICE_ORDER:
            service_orders.setdefault(slip.shop.app_key, []).append(jd_service_order_item(slip))
            continue
        status = JD_STATUS_FOR_PLATFORM[slip.platform_status]
        if slip.platform_status_code.isdigit():
            status = int(slip.platform_status_code)
        applications.setdefault(slip.shop.app_key, []).append(
            {
                "id": int(slip.refund_no),
                "orderId": int(slip.tid),
                "status": status,
                # JD's shape: the goods as skuVoList (the slip's own SKU when it has a line).
                "skuVoList": [{"skuId": _sku_of(slip) or "1", "skuCount": slip.num}],
            }
        )
    for app_key, rows in applications.items():
        sandbox.seed_refunds(app_key, rows)
    for app_key, rows in service_orders.items():
        sandbox.seed_service_orders(app_key, rows)


@pytest.fixture(autouse=True)
def _fresh_content_type_cache():
    """A transactional test's flush re-creates content types with new ids; Django's per-process
    cache would still hand out the old ones (to the event log's foreign key)."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    yield
