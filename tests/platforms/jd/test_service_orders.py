"""JD's service orders (jingdong.asc.query.list rows, recorded in JD's shapes under tests/fixtures/jd/)
become raw refund slips of the matching type and status; rows the ERP cannot store say why."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

import platforms
from platforms.jd import asc_codes
from platforms.jd import service_orders as so
from platforms.jd.mapping import BadRow
from platforms.jd.signing import SHANGHAI
from refunds.models import PlatformStatus, RefundType
from sandbox import service_orders as sandbox_so

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jd"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def rows(name: str) -> list[dict]:
    answer = fixture(name)["answer"]["jingdong_asc_query_list_responce"]
    return answer["pageResult"]["data"]


def by_service(name: str) -> dict[int, dict]:
    return {row["serviceId"]: row for row in rows(name)}


def test_a_return_the_buyer_shipped_is_a_return_awaiting_receipt_with_its_waybill():
    row = by_service("asc_query_list.json")[1890000001]
    fields = so.service_order_fields(row)
    assert fields["refund_no"] == "1890000001"
    assert fields["tid"] == "301234567890"
    assert fields["oid"] == "301234567890-100012345678"
    assert fields["refund_type"] == RefundType.RETURN
    assert fields["platform_status"] == PlatformStatus.AWAITING_RECEIPT
    assert fields["platform_status_code"] == "10005"
    assert fields["return_logistics_no"] == "SF1400012345678"
    assert fields["num"] == 1
    assert fields["refund_amount"] == Decimal("359.00")
    assert fields["reason"] == "尺码不合适"
    assert fields["buyer_nick"] == "王芳"
    # JD's Date fields are epoch milliseconds, read as Beijing time
    assert fields["apply_time"] == datetime(2024, 5, 1, 10, 20, tzinfo=SHANGHAI)
    assert fields["check_time"] == datetime(2024, 5, 1, 11, 0, tzinfo=SHANGHAI)
    assert fields["platform_modified"] == datetime(2024, 5, 2, 9, 15, tzinfo=SHANGHAI)
    # where it came from: the slip's writeback goes to the service order
    assert (fields["platform_object"], fields["platform_id"]) == (so.SERVICE_ORDER, "1890000001")
    assert so.apply_id(row) == "1790000001"
    # the list's row has no buyer's words: the slip's own description is left alone
    assert "description" not in fields
    assert so.service_order_fields({**row, "questionDesc": "偏小一码"})["description"] == "偏小一码"


def test_an_exchange_not_yet_shipped_back_waits_for_the_return_and_refunds_nothing():
    fields = so.service_order_fields(by_service("asc_query_list.json")[1890000002])
    assert fields["refund_type"] == RefundType.EXCHANGE
    assert fields["platform_status"] == PlatformStatus.AWAITING_RETURN
    assert fields["return_logistics_no"] == ""
    assert fields["num"] == 2
    assert fields["refund_amount"] == Decimal("0")


def test_a_repair_registered_as_received_arrives_as_a_repair():
    fields = so.service_order_fields(by_service("asc_query_list.json")[1890000003])
    assert fields["refund_type"] == RefundType.REPAIR
    assert RefundType(fields["refund_type"]).label == "维修"
    assert fields["platform_status"] == PlatformStatus.AWAITING_RECEIPT
    assert fields["refund_amount"] == Decimal("0")


@pytest.mark.parametrize(
    "service_id, refund_type, status",
    [
        (1890000011, RefundType.RETURN, PlatformStatus.REFUNDED),  # 退货 processed as 退货 (40)
        (1890000012, RefundType.EXCHANGE, PlatformStatus.SERVICE_COMPLETED),  # exchanged: no refund
        (1890000013, RefundType.REFUND_KEEP_GOODS, PlatformStatus.REFUNDED),  # 仅退款 done
        (1890000014, RefundType.REISSUE, PlatformStatus.APPLIED),  # 补发: nothing comes back
        (1890000015, RefundType.RETURN, PlatformStatus.CANCELLED),  # 取消
        (1890000016, RefundType.RETURN, PlatformStatus.SELLER_REFUSED),  # 审核关闭
        (1890000017, RefundType.RETURN, PlatformStatus.SERVICE_COMPLETED),  # 原返: sent back, no refund
    ],
)
def test_outcomes_map_to_the_erps_statuses(service_id, refund_type, status):
    fields = so.service_order_fields(by_service("asc_query_list_outcomes.json")[service_id])
    assert (fields["refund_type"], fields["platform_status"]) == (refund_type, status)


def test_the_reissue_type_is_labelled_in_chinese():
    fields = so.service_order_fields(by_service("asc_query_list_outcomes.json")[1890000014])
    assert RefundType(fields["refund_type"]).label == "补发"
    assert PlatformStatus.SERVICE_COMPLETED.label == "售后完成"


def test_every_fixture_row_maps():
    for name in ("asc_query_list.json", "asc_query_list_outcomes.json"):
        for row in rows(name):
            so.service_order_fields(row)


# --- rows set aside, with the field and the problem ---------------------------------------------------
def good_row(**changes) -> dict:
    row = dict(by_service("asc_query_list.json")[1890000001])
    for key, value in changes.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"serviceId": None}, "缺少服务单号（serviceId）"),
        ({"serviceId": 1890000001.5}, "服务单号（serviceId）应为数字编号"),
        ({"orderId": "30123x"}, "订单号（orderId）应为数字编号"),
        ({"skuId": None}, "缺少SKU（skuId）"),
        ({"customerExpect": None}, "缺少客户期望（customerExpect）"),
        ({"customerExpect": 40}, "大家电安装"),
        ({"customerExpect": 1}, "售前退款是退款申请单"),
        ({"customerExpect": 77}, "客户期望（customerExpect）不是已知的取值"),
        ({"serviceStatus": 99999}, "服务单状态（serviceStatus）不是已知的取值"),
        ({"serviceStatus": None}, "缺少服务单状态（serviceStatus）"),
        ({"applyTime": 1714530000}, "申请时间（applyTime）早于2000年，不是毫秒时间戳"),
        ({"applyTime": "昨天"}, "申请时间（applyTime）不是有效的时间"),
        ({"serviceCount": 0}, "售后数量（serviceCount）不能小于 1"),
        ({"actualPayPrice": "abc"}, "实付金额（actualPayPrice）应为金额数字"),
    ],
)
def test_a_bad_row_names_the_field_and_the_problem(changes, words):
    with pytest.raises(BadRow) as bad:
        so.service_order_fields(good_row(**changes))
    assert words in bad.value.reason


def test_a_row_that_is_not_an_object_is_refused():
    with pytest.raises(BadRow, match="服务单"):
        so.service_order_fields(["serviceId", 1])


def test_an_overlong_waybill_is_left_out_and_said_so():
    notes: list[str] = []
    fields = so.service_order_fields(good_row(expressCode="SF" + "9" * 80), notes)
    assert fields["return_logistics_no"] == ""
    assert any("退回物流单号（expressCode）" in note and "未保存" in note for note in notes)


def test_times_may_come_as_digit_strings_or_jd_timestamps():
    as_text = so.service_order_fields(good_row(applyTime="1714530000000", approveTime="2024-05-01 11:00:00"))
    assert as_text["apply_time"] == datetime(2024, 5, 1, 10, 20, tzinfo=SHANGHAI)
    assert as_text["check_time"] == datetime(2024, 5, 1, 11, 0, tzinfo=SHANGHAI)


# --- 退货入仓 on a service order: JD's state decides, asked through the port ---------------------------
def refusal(code: str, kind=platforms.GOODS_IN_WAREHOUSE, label="退货入仓"):
    return platforms.state_refusal("jd", code, kind, label)


def test_only_a_service_order_waiting_for_goods_takes_goods_in_warehouse():
    assert refusal("10005") is None
    assert refusal("") is None  # never read: the fresh read decides
    assert refusal("10007") == "服务单已收货登记，待商家处理：京东服务单状态为待处理，无法回传退货入仓"
    assert "已完成" in refusal("10010")
    assert "买家已取消服务单" in refusal("10011")
    assert "尚未审核通过" in refusal("10001")
    assert "确认收货后的售后" in refusal("10005", platforms.SHIPMENT_CANCELLED, "取消发货成功")
    # a refund application's codes keep their own table
    assert refusal("1") is None and "用户撤销" in refusal("11")


def test_the_rules_query_knows_the_service_orders_acting_state():
    assert "10005" in platforms.acting_codes("jd", platforms.GOODS_IN_WAREHOUSE)
    assert "10005" not in platforms.acting_codes("jd", platforms.SHIPMENT_CANCELLED)
    assert not {"10007", "10010"} & set(platforms.acting_codes("jd", platforms.GOODS_IN_WAREHOUSE))
    assert platforms.state_label("jd", "10005") == "待收货"


def test_the_sandbox_plays_jd_with_the_same_table():
    # one table for both sides: the sandbox imports it (no copy that could drift)
    assert sandbox_so.SERVICE_STATUS is asc_codes.SERVICE_STATUS
    assert sandbox_so.RECEIVABLE == {
        c for c in asc_codes.SERVICE_STATES if asc_codes.allows(c, platforms.GOODS_IN_WAREHOUSE)
    }
