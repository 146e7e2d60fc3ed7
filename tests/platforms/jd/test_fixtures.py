"""The product's JD parsers on recorded JD-shaped answers (tests/fixtures/jd/, each naming its public
source in docs/sandbox.md): what the port hands the ERP, and what the product sends, for every method
it calls. The same fixtures validate the SA sandbox's answers (tests/sandbox/test_answers_match_fixtures.py),
so the product and the sandbox cannot agree on a dialect of their own.

Unit tests of the JD package: its HTTP is a MockTransport answering the fixture's body."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from orders.models import OrderStatus, PayType, Shop
from platforms.jd.adapter import JdPlatform
from platforms.jd.client import JosClient
from platforms.jd.errors import JosAccessTokenError, JosBusinessError, JosMethodError, JosSignError
from platforms.jd.signing import SHANGHAI
from platforms.port import ACCEPTED, ORDERS, REFUNDS, REFUSED, UNKNOWN
from refunds.models import PlatformObject, PlatformStatus, RawRefund, RefundType

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jd"
START = datetime(2026, 11, 11, 0, 0, 0, tzinfo=SHANGHAI)
END = datetime(2026, 11, 11, 6, 0, 0, tzinfo=SHANGHAI)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class NoLimit:
    def acquire(self, app_key):
        return 0.0


def platform_answering(name: str):
    """JD's port for a shop whose JD answers every call with the fixture's body; `sent` collects the
    business parameters of each request."""
    answer, sent = fixture(name)["answer"], []

    def handler(request: httpx.Request):
        form = dict(parse_qsl(request.content.decode()))
        sent.append((form["method"], json.loads(form["360buy_param_json"])))
        return httpx.Response(200, json=answer)

    client = JosClient(
        "http://jos.test/routerjson",
        "APPKEY",
        "secret-7f3a",
        "tok-3f9a",
        max_retries=0,
        rate_limiter=NoLimit(),
        sleep=lambda seconds: None,
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    return JdPlatform(Shop(shop_no="JD-1", app_key="APPKEY"), client=client), sent


def types_of(params: dict) -> dict:
    return {k: type(v).__name__ for k, v in params.items()}


def slip(**fields) -> RawRefund:
    defaults = {"refund_no": "7000000024", "platform_id": "7000000024", "tid": "301234567890"}
    return RawRefund(**{**defaults, **fields})


# --- jingdong.pop.order.search ----------------------------------------------------------------------
def test_order_search_rows_become_orders_lines_and_coupons():
    platform, sent = platform_answering("order_search")
    (page,) = platform.list_changed(ORDERS, START, END)
    assert page.set_aside == []
    (row,) = page.rows
    order, (line,) = row["order"], row["lines"]
    assert order["tid"] == "301234567890" and order["status"] == OrderStatus.AWAITING_CS_REVIEW
    assert order["platform_status"] == "等待出库" and order["pay_type"] == PayType.ONLINE
    assert order["paid"] == Decimal("148.00") and order["buyer_nick"] == "jd_buyer_a1"
    assert order["platform_modified"] == datetime(2026, 11, 11, 0, 3, 40, tzinfo=SHANGHAI)
    assert line["oid"] == "301234567890-100012345678" and line["num"] == 2
    assert line["discount"] == Decimal("10.00") and line["paid"] == Decimal("148.00")
    assert row["promotions"] == []


def test_order_search_is_asked_as_the_sdk_asks_it():
    platform, sent = platform_answering("order_search")
    list(platform.list_changed(ORDERS, START, END))
    (method, params), recorded = sent[0], fixture("order_search")["request"]
    assert method == "jingdong.pop.order.search"
    assert types_of(params) == types_of(recorded)  # page numbers as strings, as the SDKs send them
    assert {k: v for k, v in params.items() if k not in ("start_date", "end_date")} == {
        k: v for k, v in recorded.items() if k not in ("start_date", "end_date")
    }
    assert params["start_date"] == "2026-11-11 00:00:00"


def test_an_empty_order_window_is_no_page():
    platform, _ = platform_answering("order_search_empty")
    assert list(platform.list_changed(ORDERS, START, END)) == []


def test_order_search_refused_in_api_result_is_jds_own_words():
    platform, _ = platform_answering("order_search_refused")
    with pytest.raises(JosBusinessError) as refused:
        list(platform.list_changed(ORDERS, START, END))
    assert refused.value.user_message == "京东返回：page_size必须在1到100之间"
    assert refused.value.code == "10400001"


# --- jingdong.pop.afs.soa.refundapply.queryPageList -----------------------------------------------
def refund_rows(name: str) -> list[dict]:
    platform, _ = platform_answering(name)
    pages = list(platform.list_changed(REFUNDS, START, END))
    assert all(page.set_aside == [] for page in pages), [p.set_aside for p in pages]
    return [row for page in pages for row in page.rows]


def test_an_application_of_one_sku_is_that_order_line_for_skucount_units():
    rows = refund_rows("query_page_list")
    # listed twice: the sync asks by applyTime, then by checkTime (the same answer here)
    assert len(rows) == 2 and rows[0] == rows[1]
    row = rows[0]
    assert row["refund_no"] == row["platform_id"] == "7000000024"
    assert row["platform_object"] == PlatformObject.REFUND_APPLY
    assert row["tid"] == "301234567890" and row["oid"] == "301234567890-100012345678"
    assert row["num"] == 1 and row["needs_manual_interception"] is False
    assert row["refund_type"] == RefundType.REFUND and row["platform_status"] == PlatformStatus.APPLIED
    assert row["platform_status_code"] == "1"
    assert row["refund_amount"] == Decimal("79.00")  # applyRefundSum is in fen
    assert row["buyer_nick"] == "张三" and row["reason"] == "拍错/多拍"
    assert row["check_time"] == row["platform_modified"] == datetime(2026, 11, 11, 0, 35, tzinfo=SHANGHAI)


def test_the_sync_asks_with_showsku_and_the_sdks_types():
    platform, sent = platform_answering("query_page_list")
    list(platform.list_changed(REFUNDS, START, END))
    recorded = fixture("query_page_list")["request"]
    by_apply, by_check = (params for _, params in sent)
    assert by_apply == recorded and types_of(by_apply) == types_of(recorded)
    assert by_apply["showSku"] is True
    assert set(by_check) == {"checkTimeStart", "checkTimeEnd", "pageIndex", "pageSize", "showSku"}


def test_an_application_of_several_skus_is_one_slip_flagged_for_a_person():
    (row, _) = refund_rows("query_page_list_several_skus")
    assert row["oid"] == "" and row["num"] == 3
    assert row["needs_manual_interception"] is True
    assert row["refund_amount"] == Decimal("237.00")


def test_numbers_as_strings_and_ids_as_numbers_are_read_alike():
    (row, _) = refund_rows("query_page_list_numbers_as_strings")
    assert row["refund_no"] == "7000000026" and row["tid"] == "301234567891"
    assert row["oid"] == "301234567891-100012345680" and row["num"] == 2
    assert row["platform_status_code"] == "0" and row["refund_amount"] == Decimal("59.80")


def test_missing_optional_fields_are_defaults_not_errors():
    platform, sent = platform_answering("query_page_list_missing_optional")
    snapshot = platform.read(["7000000027"])
    assert snapshot.error is None and snapshot.unreadable == {}
    row = snapshot.rows["7000000027"]
    assert row["oid"] == "" and row["num"] == 1 and row["check_time"] is None
    assert row["buyer_nick"] == "jd_buyer_c3"  # no buyerName: the account
    assert row["refund_amount"] == Decimal("99.00")  # a Double of fen, as the Java SDK types it
    assert row["platform_modified"] == datetime(2026, 11, 11, 2, 0, tzinfo=SHANGHAI)
    assert sent == [
        (
            "jingdong.pop.afs.soa.refundapply.queryPageList",
            fixture("query_page_list_missing_optional")["request"],
        )
    ]


def test_an_empty_refund_window_is_no_page():
    assert refund_rows("query_page_list_empty") == []


def test_a_refused_query_is_jds_errorcode_and_errormsg():
    platform, _ = platform_answering("query_page_list_refused")
    with pytest.raises(JosBusinessError) as refused:
        list(platform.list_changed(REFUNDS, START, END))
    assert refused.value.code == "PARAM_ERROR"
    assert refused.value.user_message == "京东返回：pageSize必须在1到50之间"
    snapshot = platform_answering("query_page_list_refused")[0].read(["1"])
    assert isinstance(snapshot.error, JosBusinessError) and snapshot.rows == {}


# --- jingdong.pop.afs.soa.refundapply.updateWarehouseStatus ---------------------------------------
def test_an_accepted_writeback_is_read_in_returntype():
    platform, sent = platform_answering("update_warehouse_status_accepted")
    outcome = platform.write_shipment_cancelled(slip())
    assert outcome.outcome == ACCEPTED and outcome.error is None
    # orderId and refId Long, status Integer: numbers, as the SDKs type them
    assert sent == [
        (
            fixture("update_warehouse_status_accepted")["method"],
            fixture("update_warehouse_status_accepted")["request"],
        )
    ]
    assert outcome.request == {
        "method": "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus",
        "params": {"orderId": 301234567890, "refId": 7000000024, "status": 1},
    }


def test_the_response_spelling_of_the_envelope_is_read_too():
    platform, _ = platform_answering("update_warehouse_status_response_spelling")
    assert platform.write_shipment_cancelled(slip()).outcome == ACCEPTED


def test_a_refused_writeback_carries_jds_own_code_and_words():
    platform, _ = platform_answering("update_warehouse_status_refused")
    outcome = platform.write_shipment_cancelled(slip(refund_no="7000000099", platform_id="7000000099"))
    assert outcome.outcome == REFUSED
    assert (outcome.code, outcome.words) == ("NOT_FOUND", "退款单不存在")
    assert outcome.error.user_message == "京东返回：退款单不存在" and not outcome.error.retryable


def test_an_answer_without_returntype_is_an_unknown_outcome_never_a_success():
    platform, _ = platform_answering("update_warehouse_status_without_result")
    outcome = platform.write_goods_in_warehouse(slip())
    assert outcome.outcome == UNKNOWN and outcome.error.outcome_unknown
    assert "京东返回：" not in outcome.error.user_message  # nobody may read it as JD's refusal


# --- gateway errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, error_type, words",
    [
        ("error_access_token", JosAccessTokenError, "无效的access_token"),
        ("error_method", JosMethodError, "不存在的方法名"),
        ("error_sign_without_en_desc", JosSignError, "无效签名"),
    ],
)
def test_gateway_errors_are_typed_and_keep_jds_words(name, error_type, words):
    platform, _ = platform_answering(name)
    outcome = platform.write_shipment_cancelled(slip())
    assert outcome.outcome == REFUSED and type(outcome.error) is error_type
    assert outcome.words == words and outcome.error.zh_desc == words
    snapshot = platform_answering(name)[0].read(["7000000024"])
    assert type(snapshot.error) is error_type


def test_every_fixture_names_a_source_documented_in_docs_sandbox_md():
    docs = (Path(__file__).resolve().parents[3] / "docs" / "sandbox.md").read_text()
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        assert {"method", "source", "request", "answer"} <= set(data), path.name
        assert f"`{path.name}`" in docs, f"{path.name} is not in docs/sandbox.md's fixture table"
        assert f"`{data['source']}`" in docs, f"source {data['source']} of {path.name} is not documented"
