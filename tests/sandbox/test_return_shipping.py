"""Returns in the sandbox are JD's after-sales service orders: an approved 退货/换货/维修 (serviceStatus
10005 待收货) waits for the buyer until the buyer ships the goods back and the row shows the parcel's
waybill (`expressCode`), told to or after the policy's delay. Refund applications (JD's refunds before
receipt) carry no return at all."""

from __future__ import annotations

import time

import pytest

from sandbox.service_orders import QUERY_LIST
from sandbox.testing import SandboxError

from .support import PAGE_LIST, body, refund


def row(call, shop, service_id):
    params = {"buId": shop["vender_id"], "operatePin": "erp", "operateNick": "ERP", "serviceId": service_id}
    return body(call(QUERY_LIST, params), QUERY_LIST)["pageResult"]["data"][0]


def approved_return(service_id, **fields):
    return {
        "serviceId": service_id,
        "orderId": 811,
        "skuId": 100000000001,
        "customerExpect": 10,
        "serviceStatus": 10005,
        **fields,
    }


def wait_for(predicate, seconds=5):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_buyer_ships_when_told_and_jd_shows_the_parcel(sandbox, shop, call):
    sandbox.seed_service_orders(shop["app_key"], [approved_return(1)])
    before = row(call, shop, 1)
    assert "expressCode" not in before and before["serviceStatus"] == 10005

    shipped = sandbox.ship_service_order(1, company="顺丰速运", waybill="SF1234567890")
    assert (shipped["expressCompany"], shipped["expressCode"]) == ("顺丰速运", "SF1234567890")
    after = row(call, shop, 1)
    assert after["expressCode"] == "SF1234567890" and after["serviceStatus"] == 10005
    # a change JD shows: a sync scanning a moving updateTime window sees it
    assert after["updateTime"] > before["updateTime"] and after["freightUpdateDate"] == after["updateTime"]


def test_a_parcel_without_details_gets_a_stable_waybill(sandbox, shop):
    sandbox.seed_service_orders(shop["app_key"], [approved_return(42)])
    shipped = sandbox.ship_service_order(42)
    assert shipped["expressCompany"] == "京东快递"
    assert shipped["expressCode"] == "JDVA00000000000042"


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"customerExpect": 11}, "refund keeping the goods: nothing to ship"),
        ({"customerExpect": 80}, "a reissue: the merchant ships, not the buyer"),
        ({"serviceStatus": 10001}, "JD has not approved the return yet"),
        ({"serviceStatus": 10011}, "the buyer cancelled"),
        ({"expressCode": "SF1"}, "already shipped"),
    ],
)
def test_only_an_approved_open_return_waiting_for_the_buyer_can_ship(sandbox, shop, fields, why):
    sandbox.seed_service_orders(shop["app_key"], [approved_return(1, **fields)])
    with pytest.raises(SandboxError) as refused:
        sandbox.ship_service_order(1)
    assert refused.value.status == 400, why
    assert refused.value.body["field"] == "serviceStatus"
    assert sandbox.service_order(1).get("expressCode", "") == fields.get("expressCode", "")


def test_unknown_parcel_fields_are_refused(sandbox, shop):
    sandbox.seed_service_orders(shop["app_key"], [approved_return(1)])
    with pytest.raises(SandboxError) as refused:
        sandbox.ship_service_order(1, tracking="x")
    assert refused.value.status == 400 and refused.value.body["field"] == "body.tracking"


def test_the_policy_ships_approved_returns_by_itself(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["2"], delay_seconds=0, buyer_ships_after_seconds=0.3)
    sandbox.seed_service_orders(
        shop["app_key"],
        [
            approved_return(1),
            approved_return(2, serviceStatus=10001),
            approved_return(3, customerExpect=20),  # an exchange: the buyer sends the goods back too
            approved_return(4, customerExpect=11),  # refund keeping the goods: nothing travels
        ],
    )
    assert "expressCode" not in row(call, shop, 1)
    wait_for(lambda: "expressCode" in row(call, shop, 1))
    assert row(call, shop, 1)["expressCode"] == "JDVA00000000000001"
    assert row(call, shop, 3)["expressCode"] == "JDVA00000000000003"
    # not approved yet: the buyer waits for JD; nothing to ship for a refund keeping the goods
    assert "expressCode" not in row(call, shop, 2)
    assert "expressCode" not in row(call, shop, 4)

    # approving it later starts the buyer's clock
    sandbox.update_service_order(2, serviceStatus=10005)
    wait_for(lambda: "expressCode" in row(call, shop, 2))
    assert row(call, shop, 2)["expressCode"] == "JDVA00000000000002"


def test_a_cancelled_return_is_not_shipped_by_the_policy(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["2"], delay_seconds=0, buyer_ships_after_seconds=0.3)
    sandbox.seed_service_orders(shop["app_key"], [approved_return(1)])
    sandbox.update_service_order(1, serviceStatus=10011)
    time.sleep(0.6)
    assert "expressCode" not in row(call, shop, 1)


def test_a_refund_application_carries_no_return(sandbox, shop, call):
    """JD's refund application is the refund before receipt: the sandbox's row is JD's, nothing else."""
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811, status=1)])
    answer = body(call(PAGE_LIST, {"ids": "1", "pageSize": 10}), PAGE_LIST)["queryResult"]["result"][0]
    assert not {"afsType", "returnState", "buyerDesc", "expressCompany", "expressCode"} & set(answer)
    with pytest.raises(SandboxError) as refused:
        sandbox.seed_refunds(shop["app_key"], [refund(2, afsType=2)])
    assert refused.value.status == 400 and refused.value.body["field"] == "refunds[0].afsType"
