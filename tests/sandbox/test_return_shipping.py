"""Returns in the sandbox: an approved return waits for the buyer (returnState 1, 等待退货) until the
buyer ships it back (returnState 2, 等待收货) with a parcel's waybill, told to or after the policy's delay."""

from __future__ import annotations

import time

import pytest

from sandbox.testing import SandboxError

from .support import PAGE_LIST, body, refund


def row(call, ref_id):
    return body(call(PAGE_LIST, {"ids": str(ref_id)}), PAGE_LIST)["queryResult"]["result"][0]


def approved_return(refund_id, **fields):
    return refund(refund_id, order_id=811, **{"afsType": 2, "status": 1, "returnState": 1, **fields})


def test_buyer_ships_when_told_and_jd_shows_the_parcel(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [approved_return(1)])
    before = row(call, 1)
    assert (before["returnState"], before["expressCode"], before.get("checkTime")) == (1, "", None)

    shipped = sandbox.ship_return(1, company="顺丰速运", waybill="SF1234567890")
    assert (shipped["returnState"], shipped["expressCompany"], shipped["expressCode"]) == (
        2,
        "顺丰速运",
        "SF1234567890",
    )
    after = row(call, 1)
    assert after["returnState"] == 2 and after["expressCode"] == "SF1234567890"
    # a change JD shows: a sync scanning a moving checkTime window sees it
    assert after["checkTime"] >= before["applyTime"]


def test_a_parcel_without_details_gets_a_stable_waybill(sandbox, shop):
    sandbox.seed_refunds(shop["app_key"], [approved_return(42)])
    shipped = sandbox.ship_return(42)
    assert shipped["expressCompany"] == "京东快递"
    assert shipped["expressCode"] == "JDVB00000000000042"


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"afsType": 1, "returnState": 0}, "refund only: nothing to ship"),
        ({"status": 0}, "JD has not approved the return yet"),
        ({"status": 11}, "the buyer cancelled"),
        ({"returnState": 2}, "already shipped"),
    ],
)
def test_only_an_approved_open_return_waiting_for_the_buyer_can_ship(sandbox, shop, fields, why):
    sandbox.seed_refunds(shop["app_key"], [approved_return(1, **fields)])
    with pytest.raises(SandboxError) as refused:
        sandbox.ship_return(1)
    assert refused.value.status == 400, why
    assert refused.value.body["field"] == "returnState"
    assert sandbox.refund(1)["returnState"] == fields.get("returnState", 1)


def test_unknown_parcel_fields_are_refused(sandbox, shop):
    sandbox.seed_refunds(shop["app_key"], [approved_return(1)])
    with pytest.raises(SandboxError) as refused:
        sandbox.ship_return(1, tracking="x")
    assert refused.value.status == 400 and refused.value.body["field"] == "body.tracking"


def test_the_policy_ships_approved_returns_by_itself(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["2"], delay_seconds=0, buyer_ships_after_seconds=0.3)
    sandbox.seed_refunds(
        shop["app_key"],
        [approved_return(1), approved_return(2, status=0), refund(3, order_id=811, afsType=1, status=1)],
    )
    assert row(call, 1)["returnState"] == 1
    deadline = time.monotonic() + 5
    while row(call, 1)["returnState"] != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    shipped = row(call, 1)
    assert shipped["returnState"] == 2 and shipped["expressCode"] == "JDVB00000000000001"
    # not approved yet: the buyer waits for JD; a refund-only application has nothing to ship
    assert row(call, 2)["returnState"] == 1
    assert row(call, 3)["returnState"] == 0

    # approving it later starts the buyer's clock
    sandbox.update_refund(2, status=1)
    deadline = time.monotonic() + 5
    while row(call, 2)["returnState"] != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert row(call, 2)["returnState"] == 2


def test_a_cancelled_return_is_not_shipped_by_the_policy(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["2"], delay_seconds=0, buyer_ships_after_seconds=0.3)
    sandbox.seed_refunds(shop["app_key"], [approved_return(1)])
    sandbox.update_refund(1, status=11)
    time.sleep(0.6)
    assert row(call, 1)["returnState"] == 1
