"""导出Excel of the list as filtered, in the background past the threshold; date ranges; the
常用筛选; and the 工作台 figures and chart."""

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.models import ExportJob, ExportStatus
from orders.models import InterceptionStatus, OrderStatus
from refunds.models import RawRefund, WritebackStatus
from sa_sync.models import WritebackAttempt, WritebackOutcome, WritebackTrigger

from .conftest import PASSWORD, make_user
from .factories import OrderLineFactory, RawRefundFactory, ShopFactory

pytestmark = pytest.mark.django_db

REFUNDS = reverse("admin:refunds_rawrefund_changelist")
EXPORT = reverse("admin:erp_export", args=["refunds", "rawrefund"])


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def sheet_rows(content):
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.fixture
def tasks_run_here():
    from erp_aftersales.celery import app

    app.conf.update(task_always_eager=True)
    yield
    app.conf.update(task_always_eager=False)


def test_list_offers_export_of_the_current_filter(client, cs_user, slip):
    html = login(client, cs_user).get(REFUNDS, {"view": "failed"}).content.decode()
    assert f'href="{EXPORT}?view=failed"' in html and "导出Excel" in html


def test_small_export_downloads_the_filtered_rows_at_once(client, cs_user):
    shop = ShopFactory()
    failed = RawRefundFactory(order_line__order__shop=shop, refund_no="6300000000001")
    RawRefund.objects.filter(pk=failed.pk).update(
        writeback_status=WritebackStatus.FAILED, writeback_message="订单已发货，无法回传取消发货成功"
    )
    RawRefundFactory(order_line__order__shop=shop)  # not failed: not exported
    response = login(client, cs_user).get(EXPORT, {"view": "failed"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = sheet_rows(response.content)
    header = rows[0]
    assert header[:3] == ["平台退款单号", "店铺", "平台订单号"] and "系统订单状态" in header
    assert len(rows) == 2 and rows[1][0] == "6300000000001"
    record = dict(zip(header, rows[1], strict=True))
    assert record["退款回传状态"] == "回传失败" and record["系统订单状态"] == "待客审"
    assert record["回传结果"] == "订单已发货，无法回传取消发货成功"


def test_big_export_runs_in_the_background_with_progress_and_only_its_owner_downloads(
    client, cs_user, settings, tasks_run_here, django_capture_on_commit_callbacks, django_user_model
):
    settings.EXPORT_BACKGROUND_OVER = 2
    settings.EXPORT_DIR = settings.VAR_DIR / "test-exports"
    slips = [RawRefundFactory() for _ in range(3)]
    login(client, cs_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(EXPORT)
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:erp_export_job", args=[job.pk]
    )
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == (ExportStatus.DONE, 3, 3)
    page = client.get(response["Location"]).content.decode()
    assert "已完成" in page and "下载 Excel（3 行）" in page
    download = client.get(reverse("admin:erp_export_download", args=[job.pk]))
    rows = sheet_rows(b"".join(download.streaming_content))
    assert sorted(r[0] for r in rows[1:]) == sorted(s.refund_no for s in slips)
    # Someone else's export is not theirs to read.
    other = make_user(django_user_model, "cs_other", "客服")
    client.logout()
    login(client, other)
    assert client.get(reverse("admin:erp_export_download", args=[job.pk])).status_code == 403
    assert client.get(reverse("admin:erp_export_job", args=[job.pk])).status_code == 403


def test_export_needs_the_right_to_see_the_list(client, django_user_model, slip):
    nobody = make_user(django_user_model, "nobody_export")
    login(client, nobody)
    assert client.get(EXPORT).status_code == 403
    # A list that does not offer export cannot be exported by URL either.
    assert client.get(reverse("admin:erp_export", args=["core", "event"])).status_code == 404


def test_date_range_filter_takes_any_range_and_includes_the_last_day(client, cs_user):
    today = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    inside = RawRefundFactory(apply_time=today - timedelta(days=3))
    last_day = RawRefundFactory(apply_time=today - timedelta(days=1))
    RawRefundFactory(apply_time=today - timedelta(days=10))
    login(client, cs_user)
    params = {
        "apply_time__gte": f"{(today - timedelta(days=4)).date()} 00:00:00",
        "apply_time__lte": f"{(today - timedelta(days=1)).date()} 00:00:00",  # the picker's end day
    }
    rows = client.get(REFUNDS, params).context["cl"].result_list
    assert {r.pk for r in rows} == {inside.pk, last_day.pk}
    response = client.get(REFUNDS, {"apply_time__lte": "不是日期"})
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_saved_views_show_sendable_failed_and_attention(client, cs_user, jd):
    sendable = RawRefundFactory(order_line__order__shop=jd)
    shipped = RawRefundFactory(order_line__order__shop=jd, order_line__order__status=OrderStatus.SHIPPED)
    failed = RawRefundFactory(order_line__order__shop=jd)
    RawRefund.objects.filter(pk=failed.pk).update(writeback_status=WritebackStatus.FAILED)
    flagged = RawRefundFactory(order_line__order__shop=jd, attention="拦截失败：订单已发货")
    login(client, cs_user)

    def view(name):
        return {r.pk for r in client.get(REFUNDS, {"view": name}).context["cl"].result_list}

    assert sendable.pk in view("sendable") and shipped.pk not in view("sendable")
    assert failed.pk not in view("sendable")
    assert view("failed") == {failed.pk}
    assert view("attention") == {flagged.pk}


def test_dashboard_counts_what_needs_a_person_per_shop(client, cs_user, warehouse_user, jd):
    RawRefundFactory(order_line__order__shop=jd)  # sendable, 未回传
    failed = RawRefundFactory(order_line__order__shop=jd)
    RawRefund.objects.filter(pk=failed.pk).update(
        writeback_status=WritebackStatus.FAILED, writeback_message="订单已发货，无法回传取消发货成功"
    )
    OrderLineFactory(order__shop=jd, interception_status=InterceptionStatus.PENDING)
    for days_ago, outcome in (
        (0, WritebackOutcome.SUCCEEDED),
        (0, WritebackOutcome.SUCCEEDED),
        (2, WritebackOutcome.FAILED),
    ):
        attempt = WritebackAttempt.objects.create(
            slip=failed, trigger=WritebackTrigger.MANUAL, actor_name="cs", outcome=outcome
        )
        WritebackAttempt.objects.filter(pk=attempt.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    url = reverse("admin:erp_dashboard")
    response = login(client, cs_user).get(url)
    row = next(r for r in response.context["rows"] if r["shop"] == jd)
    assert (row["sendable"], row["failed"], row["pending"]) == (1, 1, 1)
    assert [(label, n) for label, n, _ in row["failed_reasons"]] == [("订单已发货", 1)]
    html = response.content.decode()
    assert "<svg" in html and "成功 2，失败 1" in html
    today = timezone.localdate().strftime("%Y-%m-%d")
    assert f'data-day="{today}" data-succeeded="2" data-failed="0"' in html
    assert "cdn" not in html.lower() and "http://" not in html.replace("http://www.w3.org", "")
    # The warehouse sees its own figure, not the slips'.
    client.logout()
    html = login(client, warehouse_user).get(url).content.decode()
    assert "待确认拦截" in html and "可回传未回传" not in html


def test_the_theme_opens_the_dashboard_as_its_home_tab(client, cs_user, settings):
    html = login(client, cs_user).get(reverse("admin:index")).content.decode()
    assert reverse("admin:erp_dashboard") in html
