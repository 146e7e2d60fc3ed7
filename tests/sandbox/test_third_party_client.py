"""A client the sandbox did not grow up with: written the way JD's official Python SDK builds a call
(jof2jc/jd:jd/api/base.py, RestApi.getResponse), independent of the product's JOS client and of
sandbox.testing. It succeeds against the sandbox for every method, and gets JD's error for what JD
refuses.

What the SDK does, and this client with it: system parameters `app_key`, `v=2.0`, `method`,
`timestamp` formatted `%Y-%m-%d %H:%M:%S.000%z`, `access_token`; the business parameters as
`360buy_param_json` = `json.dumps(params, ensure_ascii=False)` (default separators); no `format`; the
MD5 sign, upper-case, of the sorted name+value pairs wrapped in the secret; every parameter on the URL
of a POST with an empty body. Business parameters carry the SDK classes' types (docs/sandbox.md)."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

BEIJING = ZoneInfo("Asia/Shanghai")
ORDER_SEARCH = "jingdong.pop.order.search"
PAGE_LIST = "jingdong.pop.afs.soa.refundapply.queryPageList"
BY_ID = "jingdong.pop.afs.soa.refundapply.queryById"
WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


def sdk_timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.000%z")


class SdkStyleClient:
    def __init__(self, url, app_key, secret, access_token):
        self.url, self.app_key, self.secret, self.access_token = url, app_key, secret, access_token

    def sign(self, parameters: dict) -> str:
        text = self.secret + "".join(f"{k}{parameters[k]}" for k in sorted(parameters)) + self.secret
        return hashlib.md5(text.encode("utf-8")).hexdigest().upper()

    def call(self, method, params, *, timestamp=None, extra=None, secret=None):
        system = {
            "app_key": self.app_key,
            "v": "2.0",
            "method": method,
            "timestamp": timestamp or sdk_timestamp(datetime.now(tz=BEIJING)),
            "access_token": self.access_token,
            "360buy_param_json": json.dumps(params, ensure_ascii=False),
            **(extra or {}),
        }
        if secret is not None:
            self.secret, secret = secret, self.secret
        system["sign"] = self.sign(system)
        if secret is not None:
            self.secret = secret
        request = urllib.request.Request(self.url + "?" + urlencode(system), data=b"", method="POST")
        request.add_header("Content-type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture
def client(sandbox, shop):
    return SdkStyleClient(sandbox.jos_url, shop["app_key"], shop["app_secret"], shop["access_token"])


@pytest.fixture
def seeded(sandbox, shop):
    sandbox.seed_orders(
        shop["app_key"],
        [
            {
                "orderId": "301234567890",
                "modified": "2026-11-11 00:03:40",
                "itemInfoList": [{"skuId": "100012345678", "skuName": "纯棉短袖T恤 白色 L", "itemTotal": 2}],
            }
        ],
    )
    sandbox.seed_refunds(
        shop["app_key"],
        [
            {
                "id": 7000000024,
                "orderId": "301234567890",
                "applyTime": "2026-11-11 00:20:05",
                "skuVoList": [{"skuId": "100012345678", "skuCount": 1}],
            }
        ],
    )


def inner(answer: dict, method: str) -> dict:
    key = method.replace(".", "_") + "_responce"
    assert key in answer, answer
    assert answer[key]["code"] == "0"
    return answer[key]


WINDOW = {"applyTimeStart": "2026-11-11 00:00:00", "applyTimeEnd": "2026-11-12 00:00:00"}


@pytest.mark.parametrize(
    "zone", [BEIJING, UTC], ids=["a server in Beijing (+0800)", "a server on UTC (+0000)"]
)
def test_every_method_succeeds_as_the_sdk_calls_it(client, seeded, zone):
    stamp = sdk_timestamp(datetime.now(tz=zone))
    orders = inner(
        client.call(
            ORDER_SEARCH,
            {
                "start_date": "2026-11-11 00:00:00",
                "end_date": "2026-11-12 00:00:00",
                "order_state": "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM",
                "optional_fields": "orderId,orderState,itemInfoList",
                "page": "1",
                "page_size": "100",
                "sortType": 0,
                "dateType": 0,
            },
            timestamp=stamp,
        ),
        ORDER_SEARCH,
    )["searchorderinfo_result"]
    assert orders["apiResult"]["success"] is True and orders["orderTotal"] == 1
    assert set(orders["orderInfoList"][0]) == {"orderId", "orderState", "itemInfoList"}

    page = inner(
        client.call(PAGE_LIST, {**WINDOW, "pageIndex": 1, "pageSize": 50, "showSku": True}, timestamp=stamp),
        PAGE_LIST,
    )["queryResult"]
    assert page["success"] is True and page["totalCount"] == 1
    (row,) = page["result"]
    assert (row["id"], row["orderId"]) == (7000000024, "301234567890")
    assert row["skuVoList"][0]["skuId"] == 100012345678 and row["skuVoList"][0]["skuCount"] == 1

    by_ids = inner(client.call(PAGE_LIST, {"ids": "7000000024", "pageIndex": 1, "pageSize": 50}), PAGE_LIST)
    assert [r["id"] for r in by_ids["queryResult"]["result"]] == [7000000024]
    by_order = inner(client.call(PAGE_LIST, {"orderId": "301234567890", "pageSize": 10}), PAGE_LIST)
    assert by_order["queryResult"]["totalCount"] == 1

    found = inner(client.call(BY_ID, {"id": 7000000024}), BY_ID)["queryResult"]
    assert found["success"] is True

    written = inner(
        client.call(WRITEBACK, {"orderId": 301234567890, "refId": 7000000024, "status": 1}, timestamp=stamp),
        WRITEBACK,
    )
    assert written["returnType"] == {"success": True}


def test_a_client_that_announces_md5_is_taken_and_any_other_sign_method_is_not(client, seeded):
    params = {"ids": "7000000024", "pageSize": 10}
    assert inner(client.call(PAGE_LIST, params, extra={"sign_method": "md5"}), PAGE_LIST)["queryResult"][
        "success"
    ]
    refused = client.call(PAGE_LIST, params, extra={"sign_method": "hmac"})
    assert refused["error_response"]["code"] == "12"


@pytest.mark.parametrize(
    "method, params, why",
    [
        (PAGE_LIST, {**WINDOW, "pageIndex": 1, "pageSize": 51}, "pageSize必须在1到50之间"),
        (PAGE_LIST, {**WINDOW, "pageIndex": 0, "pageSize": 10}, "pageIndex必须大于0"),
        (PAGE_LIST, {"status": 0, "pageIndex": 1, "pageSize": 10}, "查询条件不能为空"),
        (PAGE_LIST, {"ids": "1,2,3", "pageSize": 2}, "传入id数不能超过pageSize"),
        (WRITEBACK, {"orderId": 301234567890, "refId": 7000000099, "status": 1}, "退款单不存在"),
        (WRITEBACK, {"orderId": 301234567890, "refId": 7000000024}, "缺少参数status"),
    ],
)
def test_what_jd_refuses_is_refused_with_errorcode_and_errormsg(client, seeded, method, params, why):
    result = inner(client.call(method, params), method)
    result = result.get("queryResult") or result["returnType"]
    assert result["success"] is False and why in result["errorMsg"] and result["errorCode"]


def test_order_search_refuses_a_page_size_over_100_in_its_api_result(client):
    result = inner(client.call(ORDER_SEARCH, {"page": "1", "page_size": "101"}), ORDER_SEARCH)
    api_result = result["searchorderinfo_result"]["apiResult"]
    assert api_result["success"] is False and "100" in api_result["chineseErrCode"]


@pytest.mark.parametrize(
    "change, code",
    [
        (lambda: {"timestamp": sdk_timestamp(datetime.now(tz=BEIJING) - timedelta(minutes=10))}, "8"),
        (lambda: {"timestamp": "2026/11/11 10:00:00"}, "8"),
        (lambda: {"secret": "not-the-secret"}, "12"),
    ],
    ids=["ten minutes late", "another date format", "signed with another secret"],
)
def test_the_gateway_refuses_what_jd_refuses(client, change, code):
    answer = client.call(PAGE_LIST, {**WINDOW, "pageSize": 10}, **change())
    assert answer["error_response"]["code"] == code
    assert answer["error_response"]["zh_desc"] and answer["error_response"]["en_desc"]


def test_an_unknown_token_and_an_unknown_method_get_jds_codes(sandbox, shop, client):
    client.access_token = "someone-elses-token"
    assert client.call(PAGE_LIST, WINDOW)["error_response"]["code"] == "19"
    client.access_token = shop["access_token"]
    assert client.call("jingdong.pop.afs.soa.refundapply.noSuchMethod", {})["error_response"]["code"] == "15"
