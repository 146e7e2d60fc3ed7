"""updateWarehouseStatus and the SA policy that refunds after it."""

from __future__ import annotations

import time

from .support import PAGE_LIST, WRITEBACK, body, now_ts, refund


def writeback(call, order_id, ref_id, status):
    return body(call(WRITEBACK, {"orderId": order_id, "refId": ref_id, "status": status}), WRITEBACK)[
        "returnType"
    ]


def status_of(call, ref_id):
    result = body(call(PAGE_LIST, {"ids": str(ref_id)}), PAGE_LIST)["queryResult"]["result"]
    return result[0]


def wait_for_status(call, ref_id, status, deadline_seconds=5.0):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        item = status_of(call, ref_id)
        if item["status"] == status:
            return item
        time.sleep(0.05)
    raise AssertionError(f"refund {ref_id} never reached status {status}: {item}")


def test_success_is_recorded_on_the_application(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    assert writeback(call, 811, 1, "1") == {"success": True}
    state = sandbox.refund(1)
    assert [(w["status"], w["meaning"]) for w in state["warehouseWritebacks"]] == [("1", "取消发货成功")]
    assert state["warehouseWritebacks"][0]["time"]


def test_repeat_is_idempotent_and_marked_in_the_call_log(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["2"], delay_seconds=0)  # keep it open
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    first = writeback(call, 811, 1, "1")
    second = writeback(call, 811, "1", 1)  # same values, other JSON types
    assert first == second == {"success": True}
    assert len(sandbox.refund(1)["warehouseWritebacks"]) == 1
    calls = sandbox.calls(method=WRITEBACK)
    assert [(c["code"], c["success"], c.get("repeat", False)) for c in calls] == [
        ("0", True, False),
        ("0", True, True),
    ]


def test_both_statuses_are_recorded_separately(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=[], delay_seconds=0)
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    writeback(call, 811, 1, "1")
    writeback(call, 811, 1, "2")
    assert [w["status"] for w in sandbox.refund(1)["warehouseWritebacks"]] == ["1", "2"]


def test_unknown_ref_id_is_refused(sandbox, shop, call):
    result = writeback(call, 811, 404, "1")
    assert result["success"] is False
    assert result["errorMsg"] == "退款单不存在"
    assert sandbox.calls(method=WRITEBACK)[0]["success"] is False


def test_mismatched_order_id_is_refused(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    result = writeback(call, 812, 1, "1")
    assert result["success"] is False and result["errorCode"] == "ORDER_MISMATCH"
    assert result["errorMsg"]
    assert sandbox.refund(1)["warehouseWritebacks"] == []


def test_unknown_status_is_refused(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    result = writeback(call, 811, 1, "9")
    assert result["success"] is False and result["errorCode"] == "INVALID_STATUS"


def test_closed_application_is_refused(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(n, order_id=811, status=n) for n in (3, 4, 9, 11)])
    for ref_id in (3, 4, 9, 11):
        result = writeback(call, 811, ref_id, "1")
        assert result["success"] is False and result["errorCode"] == "ALREADY_CLOSED", ref_id


def test_missing_param_is_a_business_error(call):
    result = writeback(call, 811, None, "1")
    assert result["success"] is False and "refId" in result["errorMsg"]


def test_policy_refunds_after_the_delay(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["1", "2"], delay_seconds=0.5)
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    before = now_ts()
    assert writeback(call, 811, 1, "1")["success"] is True
    assert status_of(call, 1)["status"] == 0  # not yet
    item = wait_for_status(call, 1, 3)
    assert item["checkTime"] is not None and item["checkTime"] >= before
    assert "modified" not in item  # not one of JD's fields: checkTime is what moves
    assert sandbox.refund(1)["modified"] == item["checkTime"]
    # a retried writeback after the refund is still a success, and changes nothing
    assert writeback(call, 811, 1, "1")["success"] is True
    assert sandbox.calls(method=WRITEBACK)[-1]["repeat"] is True


def test_policy_ignores_statuses_it_does_not_wait_for(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["2"], delay_seconds=0)
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    writeback(call, 811, 1, "1")
    assert sandbox.refund(1)["policyRefundAt"] is None
    assert status_of(call, 1)["status"] == 0


def test_buyer_cancelling_before_the_refund_wins(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], auto_refund_on=["1"], delay_seconds=0.3)
    sandbox.seed_refunds(shop["app_key"], [refund(1, order_id=811)])
    writeback(call, 811, 1, "1")
    sandbox.update_refund(1, status=11)
    deadline = time.monotonic() + 10
    while sandbox.refund(1)["policyRefundAt"] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status_of(call, 1)["status"] == 11
