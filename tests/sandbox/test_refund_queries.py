"""queryPageList and queryById."""

from __future__ import annotations

import pytest

from .support import ANY_TIME, BY_ID, PAGE_LIST, body, refund, ts


def page_list(call, **params):
    return body(call(PAGE_LIST, params), PAGE_LIST)["queryResult"]


def test_paging_with_page_size_50(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(1000 + n, apply_time=ts(n // 5)) for n in range(75, 0, -1)])
    first = page_list(call, **ANY_TIME, pageIndex=1, pageSize=50)
    second = page_list(call, **ANY_TIME, pageIndex=2, pageSize=50)
    third = page_list(call, **ANY_TIME, pageIndex=3, pageSize=50)
    assert first["totalCount"] == second["totalCount"] == 75
    assert [len(first["result"]), len(second["result"]), len(third["result"])] == [50, 25, 0]
    ids = [r["id"] for r in first["result"] + second["result"]]
    assert sorted(ids) == list(range(1001, 1076))
    assert [(r["applyTime"], r["id"]) for r in first["result"] + second["result"]] == sorted(
        (r["applyTime"], r["id"]) for r in first["result"] + second["result"]
    )


def test_page_size_51_is_refused(call):
    result = page_list(call, **ANY_TIME, pageIndex=1, pageSize=51)
    assert result["success"] is False
    assert result["errorCode"] == "PARAM_ERROR"
    assert "50" in result["errorMsg"]


@pytest.mark.parametrize("page", [0, -1])
def test_a_page_index_below_1_is_refused(call, page):
    result = page_list(call, **ANY_TIME, pageIndex=page, pageSize=10)
    assert result == {"success": False, "errorCode": "PARAM_ERROR", "errorMsg": "pageIndex必须大于0"}


def test_a_query_without_ids_order_or_time_range_is_refused(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(1)])
    result = page_list(call, status=0, pageSize=10)
    assert result["success"] is False and "查询条件不能为空" in result["errorMsg"]
    assert [r["id"] for r in page_list(call, ids="1")["result"]] == [1]


def test_more_ids_than_the_page_size_is_refused(call):
    result = page_list(call, ids="1,2,3", pageSize=2)
    assert result["success"] is False and result["errorMsg"] == "传入id数不能超过pageSize"


def test_apply_time_filter(sandbox, shop, call):
    sandbox.seed_refunds(
        shop["app_key"],
        [refund(1, apply_time=ts(0)), refund(2, apply_time=ts(10)), refund(3, apply_time=ts(20))],
    )
    result = page_list(call, applyTimeStart=ts(0), applyTimeEnd=ts(20), pageSize=50)
    assert [r["id"] for r in result["result"]] == [1, 2]


def test_check_time_filter_skips_unchecked_and_sorts_by_check_time(sandbox, shop, call):
    sandbox.seed_refunds(
        shop["app_key"],
        [
            refund(1, apply_time=ts(0), checkTime=ts(30), status=1),
            refund(2, apply_time=ts(5), checkTime=ts(15), status=2),
            refund(3, apply_time=ts(6)),  # never checked
            refund(4, apply_time=ts(7), checkTime=ts(90), status=1),
        ],
    )
    result = page_list(call, checkTimeStart=ts(0), checkTimeEnd=ts(60), pageSize=50)
    assert [r["id"] for r in result["result"]] == [2, 1]
    assert result["totalCount"] == 2


def test_other_filters(sandbox, shop, call):
    sandbox.seed_refunds(
        shop["app_key"],
        [
            refund(1, order_id=811, status=0),
            refund(2, order_id=812, status=1),
            refund(3, order_id=811, status=1),
        ],
    )
    assert [r["id"] for r in page_list(call, ids="1,3")["result"]] == [1, 3]
    assert [r["id"] for r in page_list(call, **ANY_TIME, status=1)["result"]] == [2, 3]
    # orderId is a String in the SDK; a number is taken too
    assert [r["id"] for r in page_list(call, orderId="811")["result"]] == [1, 3]
    assert [r["id"] for r in page_list(call, orderId=811)["result"]] == [1, 3]


def test_item_shape_is_jds(sandbox, shop, call):
    sandbox.seed_refunds(
        shop["app_key"],
        [
            refund(
                5,
                skuVoList=[{"skuId": "100000000001", "skuCount": 2}],
            )
        ],
    )
    (item,) = page_list(call, ids="5", showSku=True)["result"]
    assert item == {
        "id": 5,
        "orderId": "810000000001",  # a String in JD's RefundApplyVo
        "buyerId": item["buyerId"],
        "buyerName": item["buyerName"],
        "applyTime": ts(),
        "applyRefundSum": 7900,
        "status": 0,
        "checkUserName": "",
        "checkRemark": "",
        "reason": "不想要了",
        "systemId": 0,
        "storeId": 0,
        "partRefundType": 0,
        "skuVoList": [{"skuId": 100000000001, "skuUuid": "", "skuName": "", "skuCount": 2}],
    }
    # no checkTime until reviewed (left out, not null); the goods only when asked for
    (plain,) = page_list(call, ids="5")["result"]
    assert "skuVoList" not in plain and "checkTime" not in plain


def test_query_by_id(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(7)])
    found = body(call(BY_ID, {"id": 7}), BY_ID)["queryResult"]
    assert found["success"] is True and [r["id"] for r in found["result"]] == [7]
    missing = body(call(BY_ID, {"id": 8}), BY_ID)["queryResult"]
    assert missing == {"success": False, "errorCode": "NOT_FOUND", "errorMsg": "退款单不存在"}


def test_control_edit_sets_modified_and_check_time(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(9, apply_time=ts(0))])
    changed = sandbox.update_refund(9, status=11)
    assert changed["status"] == 11
    assert changed["checkTime"] == changed["modified"] > ts(0)
    result = page_list(call, checkTimeStart=changed["checkTime"])
    assert [(r["id"], r["status"]) for r in result["result"]] == [(9, 11)]
