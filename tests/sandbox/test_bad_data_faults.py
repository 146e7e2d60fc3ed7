"""The faults that play bad data from JD: malformed rows and huge answers, over real HTTP."""

from __future__ import annotations

import pytest

from sandbox.testing import SandboxError

from .support import ANY_TIME, ORDER_SEARCH, PAGE_LIST, body, now_ts, order, refund


def test_corrupt_rows_patches_the_answer_not_the_data(sandbox, shop, call):
    sandbox.seed_refunds(shop["app_key"], [refund(1), refund(2)])
    sandbox.seed_orders(shop["app_key"], [order("810000000001", now_ts(-5))])
    sandbox.set_faults(
        app_key=shop["app_key"],
        corrupt_rows=[
            {"key": "2", "set": {"applyRefundSum": "abc"}, "unset": ["orderId"]},
            {"key": "810000000001", "set": {"consigneeInfo.mobile": "1" * 40}},
        ],
    )
    rows = body(call(PAGE_LIST, {**ANY_TIME, "pageSize": 10}), PAGE_LIST)["queryResult"]["result"]
    by_id = {row["id"]: row for row in rows}
    assert by_id[2]["applyRefundSum"] == "abc" and "orderId" not in by_id[2]
    assert by_id[1]["applyRefundSum"] != "abc" and "orderId" in by_id[1]
    orders = body(call(ORDER_SEARCH, {"page_size": 10}), ORDER_SEARCH)["searchorderinfo_result"]
    assert orders["orderInfoList"][0]["consigneeInfo"]["mobile"] == "1" * 40
    assert sandbox.refund(2)["orderId"] == 810000000001  # the stored data is untouched


def test_answer_padding_makes_a_huge_valid_answer(sandbox, shop, call):
    sandbox.set_faults(answer_padding_bytes=3_000_000)
    envelope = call(ORDER_SEARCH, {"page_size": 10})
    assert len(envelope["sandboxPadding"]) == 3_000_000
    assert body(envelope, ORDER_SEARCH)["searchorderinfo_result"]["orderTotal"] == 0


@pytest.mark.parametrize(
    "faults, field",
    [
        ({"corrupt_rows": {"key": "1"}}, "corrupt_rows"),
        ({"corrupt_rows": [{"set": {}}]}, "corrupt_rows[0].key"),
        ({"corrupt_rows": [{"key": "1", "unset": "id"}]}, "corrupt_rows[0].unset"),
        ({"answer_padding_bytes": -1}, "answer_padding_bytes"),
    ],
)
def test_bad_fault_input_names_the_field(sandbox, faults, field):
    with pytest.raises(SandboxError) as raised:
        sandbox.set_faults(**faults)
    assert raised.value.status == 400 and raised.value.body["field"] == field
