"""jingdong.pop.order.search: modified window, states, stable paging."""

from __future__ import annotations

from .support import ORDER_SEARCH, body, order, ts


def search(call, **params):
    return body(call(ORDER_SEARCH, params), ORDER_SEARCH)["searchorderinfo_result"]


def seed_120(sandbox, shop):
    # Ten orders share each modified second, so the orderId tie-break is what keeps pages stable.
    orders = [order(f"8{n:011d}", ts(minutes=n // 10)) for n in range(120, 0, -1)]
    sandbox.seed_orders(shop["app_key"], orders)
    return {o["orderId"] for o in orders}


def test_paging_is_complete_and_stable(sandbox, shop, call):
    ids = seed_120(sandbox, shop)
    pages = []
    for page in (1, 2, 3, 4):
        result = search(call, start_date=ts(-1), end_date=ts(60), page=page, page_size=50)
        assert result["orderTotal"] == 120
        pages.append([o["orderId"] for o in result["orderInfoList"]])
    assert [len(p) for p in pages] == [50, 50, 20, 0]
    seen = [order_id for page in pages for order_id in page]
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == ids
    again = search(call, start_date=ts(-1), end_date=ts(60), page=2, page_size=50)
    assert [o["orderId"] for o in again["orderInfoList"]] == pages[1]


def test_sorted_by_modified_then_order_id(sandbox, shop, call):
    seed_120(sandbox, shop)
    rows = search(call, page=1, page_size=100)["orderInfoList"]
    assert [(o["modified"], o["orderId"]) for o in rows] == sorted(
        (o["modified"], o["orderId"]) for o in rows
    )


def test_window_is_inclusive_start_exclusive_end(sandbox, shop, call):
    sandbox.seed_orders(shop["app_key"], [order("800000000001", ts(0)), order("800000000002", ts(10))])
    result = search(call, start_date=ts(0), end_date=ts(10))
    assert [o["orderId"] for o in result["orderInfoList"]] == ["800000000001"]
    result = search(call, start_date=ts(10), end_date=ts(20))
    assert [o["orderId"] for o in result["orderInfoList"]] == ["800000000002"]


def test_order_state_filter(sandbox, shop, call):
    sandbox.seed_orders(
        shop["app_key"],
        [
            order("800000000001", ts(0), "WAIT_SELLER_STOCK_OUT"),
            order("800000000002", ts(1), "FINISHED_L"),
            order("800000000003", ts(2), "TRADE_CANCELED"),
        ],
    )
    result = search(call, order_state="WAIT_SELLER_STOCK_OUT,TRADE_CANCELED")
    assert [o["orderId"] for o in result["orderInfoList"]] == ["800000000001", "800000000003"]
    assert result["orderTotal"] == 2


def test_page_size_over_100_is_a_business_error(call):
    result = search(call, page_size=101)
    assert result["apiResult"]["success"] is False
    assert result["apiResult"]["chineseErrCode"]


def test_bad_date_is_a_business_error(call):
    result = search(call, start_date="yesterday")
    assert result["apiResult"]["success"] is False
    assert "start_date" in result["apiResult"]["englishErrCode"]


def test_seeded_order_gets_jd_shape_and_defaults(sandbox, shop, call):
    sandbox.seed_orders(
        shop["app_key"],
        [
            order(
                "800000000009",
                ts(0),
                couponDetailList=[
                    {"skuId": "100000000001", "couponType": "41-京东券优惠", "couponPrice": "10"}
                ],
            )
        ],
    )
    row = search(call)["orderInfoList"][0]
    assert row["venderId"] == shop["vender_id"]
    assert row["orderTotalPrice"] == "158.00"
    assert row["sellerDiscount"] == "10.00"
    assert row["orderSellerPrice"] == "148.00"
    assert row["orderPayment"] == "148.00"
    assert row["orderStateRemark"] == "等待出库"
    assert row["itemInfoList"][0]["itemTotal"] == "2"
    assert set(row) >= {
        "pin",
        "payType",
        "freightPrice",
        "orderStartTime",
        "paymentConfirmTime",
        "consigneeInfo",
    }


def test_control_edit_moves_the_order_into_a_later_window(sandbox, shop, call):
    sandbox.seed_orders(shop["app_key"], [order("800000000001", ts(0))])
    updated = sandbox.update_order("800000000001", orderState="TRADE_CANCELED")
    assert updated["orderStateRemark"] == "已取消"
    assert updated["modified"] > ts(0)
    assert search(call, start_date=ts(-1), end_date=ts(1))["orderTotal"] == 0
    rows = search(call, start_date=updated["modified"])["orderInfoList"]
    assert [(o["orderId"], o["orderState"]) for o in rows] == [("800000000001", "TRADE_CANCELED")]


def test_orders_are_per_shop(sandbox, shop, call):
    sandbox.seed_shop(app_key="OTHER", app_secret="s", access_token="t", shop_no="JD-OTHER", name="别的店")
    sandbox.seed_orders("OTHER", [order("800000000001", ts(0))])
    assert search(call)["orderTotal"] == 0
