"""The back office as CS and ops read it: titles, search by the start of a number, readable logs,
no internals, Chinese error pages, and the pages that tie an order to its slips."""

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.audit import record_event
from sa_sync.models import AutoWritebackRun, WritebackAttempt, WritebackOutcome, WritebackTrigger

from .conftest import PASSWORD
from .factories import RawRefundFactory, ShopFactory

pytestmark = pytest.mark.django_db

REFUNDS = reverse("admin:refunds_rawrefund_changelist")
ORDERS = reverse("admin:orders_order_changelist")
PERIODIC = reverse("admin:django_celery_beat_periodictask_changelist")


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_list_titles_name_the_list_not_djangos_choose_to_view(client, cs_user, slip):
    html = login(client, cs_user).get(REFUNDS).content.decode()
    assert "<title>原始退款单 |" in html
    assert "选择" not in html.split("</title>")[0]


def test_slip_list_finds_slips_by_the_start_of_their_numbers(client, cs_user):
    shop = ShopFactory()
    wanted = RawRefundFactory(refund_no="6200000123401", order_line__order__shop=shop)
    other = RawRefundFactory(refund_no="6200000999901", order_line__order__shop=shop)
    login(client, cs_user)

    def found(q):
        return {r.pk for r in client.get(REFUNDS, {"q": q}).context["cl"].result_list}

    assert found("62000001234") == {wanted.pk}
    assert found("620000") == {wanted.pk, other.pk}
    assert found(wanted.tid[:6]) >= {wanted.pk}  # the order number's beginning
    assert found("0000123401") == set()  # the middle of a number is not a prefix
    assert found(wanted.buyer_nick) == {wanted.pk}  # buyer accounts stay exact
    assert found(wanted.buyer_nick[:3]) == set()


@pytest.mark.postgres
def test_prefix_search_is_served_by_the_number_indexes_on_postgresql(client, cs_user):
    RawRefundFactory(refund_no="6200000123401")
    from core.admin_utils import prefix_search
    from refunds.models import RawRefund

    qs, _ = prefix_search(RawRefund.objects.all(), "62000001", ["refund_no", "tid", "oid"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = qs.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in ("rawrefund_refund_no_idx", "rawrefund_tid_idx", "rawrefund_oid_idx"):
        assert index in plan, plan


def test_order_list_finds_orders_by_the_start_of_their_number(client, cs_user):
    slip = RawRefundFactory()
    login(client, cs_user)
    rows = client.get(ORDERS, {"q": slip.tid[:-2]}).context["cl"].result_list
    assert slip.order_id in {o.pk for o in rows}


def test_slip_page_reads_like_a_page_not_like_python(client, cs_user, slip):
    WritebackAttempt.objects.create(
        slip=slip,
        trigger=WritebackTrigger.MANUAL,
        actor_name="cs",
        outcome=WritebackOutcome.SUCCEEDED,
        message="操作成功",
        request_summary={"method": "jingdong.x", "refId": slip.refund_no, "checked": "京东状态：申请退款"},
        response_code="0",
        response={"result": {"success": True, "msg": "操作成功"}},
    )
    html = login(client, cs_user).get(reverse("admin:refunds_rawrefund_change", args=[slip.pk])).content
    html = html.decode()
    assert "{'" not in html and "True" not in html  # no Python dicts or booleans
    assert "<dt>退款单号</dt><dd>" + slip.refund_no in html and "<dt>成功</dt><dd>是</dd>" in html
    # Internals CS never act on are not shown; the 需关注 hint does not show on an empty field.
    assert "京东退款状态码" not in html and "回传开始时间" not in html
    assert "例如：拦截失败" not in html
    # The page has its own 退款回传 button and shows the order's other slips.
    assert reverse("admin:refunds_rawrefund_writeback_one", args=[slip.pk]) in html
    assert "该订单的全部退款单" in html


def test_the_administrator_still_sees_the_internal_fields(admin_client, slip):
    html = admin_client.get(reverse("admin:refunds_rawrefund_change", args=[slip.pk])).content.decode()
    assert "京东退款状态码" in html


def test_slip_page_button_writes_back_that_slip(client, cs_user, jd, sandbox):
    from tests.conftest import seed_applications

    slip = RawRefundFactory(order_line__order__shop=jd)
    seed_applications(sandbox, [slip])
    login(client, cs_user)
    response = client.post(reverse("admin:refunds_rawrefund_writeback_one", args=[slip.pk]), follow=True)
    slip.refresh_from_db()
    assert slip.get_writeback_status_display() == "回传成功"
    assert "操作成功：1 条已回传成功" in response.content.decode()


def test_slip_page_button_is_refused_without_the_permission(client, ops_user, slip):
    login(client, ops_user)
    response = client.post(reverse("admin:refunds_rawrefund_writeback_one", args=[slip.pk]))
    assert response.status_code == 403
    assert not WritebackAttempt.objects.filter(slip=slip).exists()


def test_order_page_lists_its_refund_slips_and_return_slips(client, cs_user):
    from refunds.models import PlatformStatus, RefundType
    from returns.services import return_slip_create

    first = RawRefundFactory(refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RETURN)
    second = RawRefundFactory(order_line__order=first.order)
    returned = return_slip_create(raw_refund=first, by="测试")
    html = login(client, cs_user).get(first.order.get_absolute_url()).content.decode()
    assert first.refund_no in html and second.refund_no in html and returned.number in html


def test_event_log_names_objects_by_their_numbers(client, cs_user, slip):
    record_event(slip, action="退款回传", from_state="未回传", to_state="回传成功", by="cs")
    html = login(client, cs_user).get(reverse("admin:core_event_changelist")).content.decode()
    assert f">{slip.refund_no}</a>" in html
    assert "对象ID" not in html


def test_run_title_is_in_local_time(shop):
    started = timezone.now().replace(microsecond=0)
    run = AutoWritebackRun.objects.create(shop=shop, started_at=started)
    assert f"{timezone.localtime(started):%Y-%m-%d %H:%M:%S}" in str(run)


@pytest.mark.parametrize("user_fixture", ["ops_user", "cs_user", "warehouse_user"])
def test_periodic_tasks_are_nowhere_for_anyone_but_the_administrator(client, request, user_fixture):
    user = request.getfixturevalue(user_fixture)
    login(client, user)
    index = client.get(reverse("admin:index")).content.decode()
    assert "\\u5468\\u671f\\u4efb\\u52a1" not in index and "周期任务" not in index  # the menu (JSON)
    assert "periodictask" not in index and "django_celery_beat" not in index
    response = client.get(PERIODIC)
    assert response.status_code == 403
    page = response.content.decode()
    assert "没有权限访问此页面" in page and "Forbidden" not in page


def test_forbidden_and_missing_pages_are_chinese_in_the_theme(client, ops_user):
    login(client, ops_user)
    # A URL no page answers: Django's 404 page, ours with DEBUG off.
    from django.test import override_settings

    with override_settings(DEBUG=False):
        response = client.get("/admin-nothing-here/")
    assert response.status_code == 404 and "页面不存在" in response.content.decode()
    assert "erp/admin.css" in response.content.decode()  # in the theme


def test_server_error_page_is_chinese():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "服务器出错" in html


def test_every_modeladmin_of_ours_fits_the_theme():
    """A ModelAdmin of any app of this project (today's and tomorrow's) inherits ErpModelAdmin:
    titles, export and the theme's list behaviour come from there (docs/admin.md)."""
    from pathlib import Path

    from django.conf import settings
    from django.contrib import admin

    from core.admin_utils import ErpModelAdmin

    root = Path(settings.BASE_DIR).resolve()
    ours = []
    for model, model_admin in admin.site._registry.items():
        app_path = Path(model._meta.app_config.path).resolve()
        if root in app_path.parents and ".venv" not in app_path.parts:
            ours.append(model)
            assert isinstance(model_admin, ErpModelAdmin), (
                f"{model._meta.label}: {type(model_admin).__name__}"
            )
    assert len(ours) >= 10  # the walk saw the project's models


def test_the_administrator_finds_the_schedules_under_system_not_as_a_section(admin_client):
    import json
    import re

    html = admin_client.get(reverse("admin:index")).content.decode()
    menu = json.loads(re.search(r"var menus=(\[.*?\])</script>", html, re.S)[1])
    names = [group["name"] for group in menu]
    assert "周期任务" not in names
    system = next(group for group in menu if group["name"] == "系统")
    assert any("periodictask" in model["url"] for model in system["models"])
