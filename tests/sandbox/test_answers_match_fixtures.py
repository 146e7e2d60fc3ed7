"""The sandbox answers in JD's shapes: the same requests as the recorded fixtures (tests/fixtures/jd/,
each naming its public source in docs/sandbox.md) get answers with the same keys, nesting and JSON
types. The product's parsers are tested on the same files (tests/platforms/jd/test_fixtures.py), so
neither side can drift into a dialect the other shares and JD does not.

The sandbox's only extra keys are its documented order-level coupon fields. Service orders' fixtures
(asc_*) are compared field by field in tests/sandbox/test_service_orders.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.testing import jos_call

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jd"

# Fixtures that are deliberate variants of JD's shape for the product's parser, not an answer the
# sandbox gives: why each is not compared.
PRODUCT_ONLY = {
    "query_page_list_numbers_as_strings.json": "the same row with other JSON types: the product reads both",
    "query_page_list_missing_optional.json": "fields JD may leave out; the sandbox always sends them",
    "update_warehouse_status_response_spelling.json": "the other envelope spelling; the sandbox uses JD's own",
    "update_warehouse_status_without_result.json": "an answer JD should never give: the product must not take it as success",
    "error_sign_without_en_desc.json": "an error quoted without en_desc; the sandbox sends both texts",
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def shape(value):
    """Keys, nesting and JSON types, values left out."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def without_extensions(answer: dict) -> dict:
    """The answer as compared: a refund application's row is JD's alone (returns are service orders,
    sandbox/service_orders.py), so nothing is taken out."""
    return json.loads(json.dumps(answer))


def order(**fields) -> dict:
    return {
        "orderId": "301234567890",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "pin": "jd_buyer_a1",
        "orderStartTime": "2026-11-11 00:03:12",
        "paymentConfirmTime": "2026-11-11 00:03:40",
        "modified": "2026-11-11 00:03:40",
        "itemInfoList": [
            {
                "skuId": "100012345678",
                "outerSkuId": "TS-WHITE-L",
                "skuName": "纯棉短袖T恤 白色 L",
                "jdPrice": "79.00",
                "itemTotal": 2,
                "wareId": "10001234567",
            }
        ],
        "couponDetailList": [
            {"skuId": "100012345678", "couponType": "30-单品促销优惠", "couponPrice": "10.00"}
        ],
        **fields,
    }


def application(refund_id=7000000024, skus=(("100012345678", 1),), **fields) -> dict:
    return {
        "id": refund_id,
        "orderId": "301234567890",
        "buyerName": "张三",
        "applyTime": "2026-11-11 00:20:05",
        "checkTime": "2026-11-11 00:35:00",
        "status": 1,
        "applyRefundSum": 7900,
        "skuVoList": [{"skuId": sku, "skuName": "纯棉短袖T恤", "skuCount": count} for sku, count in skus],
        **fields,
    }


# fixture → how to get the sandbox to answer its request
SEEDS = {
    "order_search.json": lambda sandbox, key: sandbox.seed_orders(key, [order()]),
    "order_search_empty.json": None,
    "order_search_refused.json": None,
    "query_page_list.json": lambda sandbox, key: sandbox.seed_refunds(key, [application()]),
    "query_page_list_several_skus.json": lambda sandbox, key: sandbox.seed_refunds(
        key, [application(7000000025, skus=(("100012345678", 2), ("100012345679", 1)))]
    ),
    "query_page_list_empty.json": None,
    "query_page_list_refused.json": None,
    "update_warehouse_status_accepted.json": lambda sandbox, key: sandbox.seed_refunds(key, [application()]),
    "update_warehouse_status_refused.json": None,
    "error_method.json": None,
}
# Gateway errors: provoked by the credentials, not the request.
WRONG_TOKEN = {"error_access_token.json"}


def test_every_fixture_is_compared_or_says_why_not():
    # The service orders' (asc_*) are compared field by field in tests/sandbox/test_service_orders.py.
    names = {path.name for path in FIXTURES.glob("*.json") if not path.name.startswith("asc_")}
    assert names == set(SEEDS) | WRONG_TOKEN | set(PRODUCT_ONLY)


@pytest.mark.parametrize("name", sorted(set(SEEDS) | WRONG_TOKEN))
def test_the_sandbox_answers_the_fixtures_request_in_its_shape(sandbox, shop, name):
    recorded = fixture(name)
    seed = SEEDS.get(name)
    if seed is not None:
        seed(sandbox, shop["app_key"])
    token = "not-the-shops-token" if name in WRONG_TOKEN else shop["access_token"]
    answer = jos_call(
        sandbox.jos_url,
        shop["app_key"],
        shop["app_secret"],
        token,
        recorded["method"],
        recorded["request"],
    )
    assert shape(without_extensions(answer)) == shape(recorded["answer"])


def test_the_sandbox_adds_nothing_to_jds_row(sandbox, shop):
    sandbox.seed_refunds(shop["app_key"], [application()])
    recorded = fixture("query_page_list.json")
    answer = jos_call(
        sandbox.jos_url,
        *(shop[k] for k in ("app_key", "app_secret", "access_token")),
        recorded["method"],
        recorded["request"],
    )
    envelope = "jingdong_pop_afs_soa_refundapply_queryPageList_responce"
    (row,) = answer[envelope]["queryResult"]["result"]
    (jd_row,) = recorded["answer"][envelope]["queryResult"]["result"]
    assert set(row) - set(jd_row) == set()
