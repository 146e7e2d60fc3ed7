"""Builders and names shared by the sandbox tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from platforms.jd.signing import SHANGHAI, jd_timestamp

ORDER_SEARCH = "jingdong.pop.order.search"
PAGE_LIST = "jingdong.pop.afs.soa.refundapply.queryPageList"
BY_ID = "jingdong.pop.afs.soa.refundapply.queryById"
WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"

BASE = datetime(2026, 3, 1, 9, 0, 0, tzinfo=SHANGHAI)


def ts(minutes: float = 0, base: datetime = BASE) -> str:
    return jd_timestamp(base + timedelta(minutes=minutes))


def now_ts(minutes: float = 0) -> str:
    return jd_timestamp(datetime.now(tz=SHANGHAI) + timedelta(minutes=minutes))


def order(order_id: str, modified: str, state: str = "WAIT_SELLER_STOCK_OUT", **fields) -> dict:
    return {
        "orderId": order_id,
        "orderState": state,
        "orderStartTime": modified,
        "modified": modified,
        "itemInfoList": [
            {"skuId": "100000000001", "skuName": "纯棉短袖T恤 白色 L", "jdPrice": "79.00", "itemTotal": 2}
        ],
        **fields,
    }


def refund(refund_id: int, order_id: int = 810000000001, apply_time: str | None = None, **fields) -> dict:
    return {
        "id": refund_id,
        "orderId": order_id,
        "applyTime": apply_time or ts(),
        "applyRefundSum": 7900,
        "status": 0,
        "skuVoList": [{"skuId": "100000000001", "skuName": "纯棉短袖T恤 白色 L", "skuCount": 1}],
        **fields,
    }


# queryPageList needs ids, an orderId or a time window (JD refuses a query without any): every
# application a test seeds applied inside this one.
ANY_TIME = {"applyTimeStart": "2000-01-01 00:00:00", "applyTimeEnd": "2100-01-01 00:00:00"}


def body(response: dict, method: str) -> dict:
    """The payload under `<method>_responce`, asserting the envelope is a success envelope."""
    key = method.replace(".", "_") + "_responce"
    assert key in response, response
    assert response[key]["code"] == "0"
    return response[key]


def error_code(response: dict) -> str:
    assert "error_response" in response, response
    return response["error_response"]["code"]
