"""JD's after-sales service orders (jingdong.asc.*) in the sandbox, over real HTTP: its answers have the
shapes of the recorded JD fixtures (tests/fixtures/jd/asc_*.json), it refuses what JD refuses, the buyer
ships approved returns back, 收货登记 moves a service order on, and the SA policy completes and refunds
a 退货 (never an exchange or a repair) after a 退货入仓."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sandbox import service_orders as so
from sandbox.testing import SandboxError

from .support import WRITEBACK, body

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jd"
LIST, VIEW, REGISTER = so.QUERY_LIST, so.QUERY_VIEW, so.RECEIVE_REGISTER
GOODS_IN_WAREHOUSE = "2"  # the sandbox's default updateWarehouseStatus value for 退货入仓


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def seed_from(row: dict) -> dict:
    """A fixture row as a control-API seed (JD's names; times stay epoch ms)."""
    return {k: v for k, v in row.items() if k in so.SEED_FIELDS}


def as_shop(shop: dict, params: dict) -> dict:
    return {**params, "buId": shop["vender_id"]}


def shape(value):
    """JSON value → its shape: keys and scalar types, lists by their items' shapes."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def recorded_list_rows() -> list[dict]:
    """Every row of jingdong.asc.query.list recorded in the fixtures: what JD's rows may carry."""
    return [
        row
        for name in ("asc_query_list.json", "asc_query_list_outcomes.json")
        for row in fixture(name)["answer"]["jingdong_asc_query_list_responce"]["pageResult"]["data"]
    ]


def assert_row_shape(sandbox_row: dict, jd_rows: list[dict]):
    """Every field the sandbox sends is one JD's rows carry, with JD's JSON type."""
    known: dict[str, set] = {}
    for row in jd_rows:
        for key, kind in shape(row).items():
            known.setdefault(key, set()).add(json.dumps(kind, sort_keys=True))
    for key, kind in shape(sandbox_row).items():
        assert key in known, f"the sandbox sends {key!r}, which JD's recorded rows do not carry"
        assert json.dumps(kind, sort_keys=True) in known[key], (key, kind, known[key])


@pytest.fixture
def asc(call, shop):
    """call(method, params) as the test shop, with JD's required merchant and operator fields."""

    def _asc(method, params=None, **kwargs):
        base = {"buId": shop["vender_id"], "operatePin": "erp", "operateNick": "ERP"}
        return call(method, {**base, **(params or {})}, **kwargs)

    return _asc


def page(asc, **params) -> dict:
    return body(asc(LIST, params), LIST)["pageResult"]


# --- the answers have JD's recorded shapes ----------------------------------------------------------
def test_the_list_answers_in_the_recorded_shape(sandbox, shop, call):
    recorded = fixture("asc_query_list.json")
    jd_page = recorded["answer"]["jingdong_asc_query_list_responce"]["pageResult"]
    sandbox.seed_service_orders(shop["app_key"], [seed_from(r) for r in jd_page["data"]])
    answer = call(LIST, as_shop(shop, recorded["request"]))
    assert set(answer) == set(recorded["answer"])
    ours = answer["jingdong_asc_query_list_responce"]
    assert ours["code"] == "0"
    assert set(ours["pageResult"]) == set(jd_page)
    assert {k: shape(v) for k, v in ours["pageResult"].items() if k != "data"} == {
        k: shape(v) for k, v in jd_page.items() if k != "data"
    }
    assert ours["pageResult"]["totalCount"] == jd_page["totalCount"]
    assert [r["serviceId"] for r in ours["pageResult"]["data"]] == sorted(
        (r["serviceId"] for r in jd_page["data"]),
        key=lambda s: next(r["updateTime"] for r in jd_page["data"] if r["serviceId"] == s),
    )
    for row in ours["pageResult"]["data"]:
        assert_row_shape(row, recorded_list_rows())
    # what the ERP's mapping reads is there, as JD sends it
    first = next(r for r in ours["pageResult"]["data"] if r["serviceId"] == 1890000001)
    jd_first = next(r for r in jd_page["data"] if r["serviceId"] == 1890000001)
    for key in (
        "serviceId",
        "orderId",
        "skuId",
        "customerExpect",
        "serviceStatus",
        "serviceCount",
        "applyTime",
        "approveTime",
        "updateTime",
        "expressCode",
        "applyId",
        "actualPayPrice",
        "questionTypeCid2Name",
        "customerName",
    ):
        assert first[key] == jd_first[key], key


def test_the_outcome_rows_have_the_recorded_shape_too(sandbox, shop, call):
    recorded = fixture("asc_query_list_outcomes.json")
    jd_page = recorded["answer"]["jingdong_asc_query_list_responce"]["pageResult"]
    sandbox.seed_service_orders(shop["app_key"], [seed_from(r) for r in jd_page["data"]])
    ours = body(call(LIST, as_shop(shop, recorded["request"])), LIST)["pageResult"]
    assert ours["totalCount"] == len(jd_page["data"])
    for row in ours["data"]:
        assert_row_shape(row, recorded_list_rows())


def test_an_empty_window_and_a_refusal_answer_as_recorded(shop, call):
    for name in ("asc_query_list_empty.json", "asc_query_list_refused.json"):
        recorded = fixture(name)
        answer = call(LIST, as_shop(shop, recorded["request"]))
        assert shape(answer) == shape(recorded["answer"]), name
        assert answer == recorded["answer"], name


def test_the_view_answers_in_the_recorded_shape(sandbox, shop, call):
    listed = fixture("asc_query_list.json")["answer"]["jingdong_asc_query_list_responce"]["pageResult"]
    sandbox.seed_service_orders(shop["app_key"], [seed_from(listed["data"][0])])
    recorded = fixture("asc_query_view.json")
    answer = call(VIEW, as_shop(shop, recorded["request"]))
    jd_result = recorded["answer"]["jingdong_asc_query_view_responce"]["result"]
    ours = body(answer, VIEW)["result"]
    assert set(ours) == set(jd_result)
    assert ours["success"] is True
    assert_row_shape(
        {k: v for k, v in ours["data"].items() if k != "serviceBillDetailList"}, [jd_result["data"]]
    )
    [detail] = ours["data"]["serviceBillDetailList"]
    assert_row_shape(detail, jd_result["data"]["serviceBillDetailList"])
    assert (detail["skuId"], ours["data"]["serviceId"]) == (100012345678, 1890000001)


def test_the_receive_register_answers_as_recorded(sandbox, shop, call):
    listed = fixture("asc_query_list.json")["answer"]["jingdong_asc_query_list_responce"]["pageResult"]
    sandbox.seed_service_orders(shop["app_key"], [seed_from(r) for r in listed["data"]])
    for name in ("asc_receive_register.json", "asc_receive_register_refused.json"):
        recorded = fixture(name)
        answer = call(REGISTER, as_shop(shop, recorded["request"]))
        assert answer == recorded["answer"], name


# --- JD refuses what JD refuses ------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, words",
    [
        ({"buId": None}, "缺少参数buId"),
        ({"operatePin": None}, "缺少参数operatePin"),
        ({"buId": "10000001"}, "buId与当前授权商家不一致"),
        ({"pageNumber": 0}, "pageNumber必须大于0"),
        ({"pageSize": 51}, "pageSize必须在1到50之间"),
        ({"updateTimeEnd": None}, "updateTimeBegin与updateTimeEnd须成对传入"),
        (
            {"applyTimeBegin": "2026-03-01 00:00:00", "applyTimeEnd": "2026-03-02 00:00:00"},
            "时间条件只能传一组",
        ),
        ({"updateTimeBegin": "2026-03-01 00:00:00", "updateTimeEnd": "2026-03-01 00:00:00"}, "必须晚于"),
        ({"updateTimeBegin": "2026/03/01", "updateTimeEnd": "2026-03-02 00:00:00"}, "格式错误"),
        ({"updateTimeBegin": None, "updateTimeEnd": None}, "查询条件不能为空"),
    ],
)
def test_the_list_refuses_what_jd_refuses(shop, call, params, words):
    sent = {
        "buId": shop["vender_id"],
        "operatePin": "erp",
        "operateNick": "ERP",
        "updateTimeBegin": "2026-03-01 00:00:00",
        "updateTimeEnd": "2026-03-02 00:00:00",
        **params,
    }
    # None: the parameter left out, as by a client that never set it
    result = body(call(LIST, {k: v for k, v in sent.items() if v is not None}), LIST)["pageResult"]
    assert result["success"] is False and words in result["msg"]
    assert result["data"] == [] and result["totalCount"] == 0


def test_paging_walks_a_window_in_update_order(sandbox, shop, asc):
    orders = [
        {
            "serviceId": 900 + i,
            "orderId": 8100000000 + i,
            "skuId": 1000 + i,
            "serviceStatus": 10005,
            "applyTime": "2026-03-01 09:00:00",
            "updateTime": f"2026-03-01 10:{59 - i:02d}:00",
        }
        for i in range(7)
    ]
    sandbox.seed_service_orders(shop["app_key"], orders)
    window = {"updateTimeBegin": "2026-03-01 10:00:00", "updateTimeEnd": "2026-03-01 11:00:00", "pageSize": 3}
    seen = []
    for number in (1, 2, 3):
        result = page(asc, **window, pageNumber=number)
        assert (result["totalCount"], result["pageNumber"], result["pageSize"]) == (7, number, 3)
        seen += [r["serviceId"] for r in result["data"]]
    assert seen == [906, 905, 904, 903, 902, 901, 900]
    # the window's end is exclusive, its start inclusive
    edge = page(asc, updateTimeBegin="2026-03-01 10:53:00", updateTimeEnd="2026-03-01 10:55:00")
    assert [r["serviceId"] for r in edge["data"]] == [906, 905]
    # by service id or order id, without a window
    assert [r["serviceId"] for r in page(asc, serviceId=903)["data"]] == [903]
    assert [r["serviceId"] for r in page(asc, orderId="8100000004")["data"]] == [904]


# --- the buyer, the merchant's 收货登记 and the SA policy ------------------------------------------------
def seed_one(sandbox, shop, **fields) -> dict:
    record = {
        "serviceId": 501,
        "applyId": 401,
        "orderId": 8100000001,
        "skuId": 100000000001,
        "customerExpect": 10,
        "serviceStatus": 10005,
        "actualPayPrice": "79.00",
        **fields,
    }
    sandbox.seed_service_orders(shop["app_key"], [record])
    return record


def register(asc, service_id=501, order_id=8100000001, **extra):
    answer = asc(REGISTER, {"serviceId": service_id, "orderId": order_id, "packingState": 10, **extra})
    return body(answer, REGISTER)["result"]


def test_a_registered_return_is_completed_and_refunded_after_the_policy_delay(sandbox, shop, asc):
    sandbox.set_policy(shop["app_key"], [GOODS_IN_WAREHOUSE], 0.4)
    seed_one(sandbox, shop, expressCode="SF1")
    assert register(asc) == {"success": True, "code": "0", "msg": "成功"}
    now = sandbox.service_order(501)
    assert (now["serviceStatus"], now["serviceStatusName"]) == (10007, "待处理")
    assert now["policyFinishAt"] and now["writebacks"][0]["method"] == REGISTER
    time.sleep(0.8)
    done = page(asc, serviceId=501)["data"][0]
    assert (done["serviceStatus"], done["processResult"], done["processResultName"]) == (10010, 40, "退货")
    assert done["processTime"] == done["updateTime"]
    # a client retrying after a lost answer is told success, and JD records it as a repeat
    assert register(asc)["success"] is True
    calls = sandbox.calls(REGISTER)
    assert [c.get("repeat", False) for c in calls] == [False, True]


@pytest.mark.parametrize("expect", [20, 30])
def test_exchanges_and_repairs_are_never_refunded_by_the_policy(sandbox, shop, asc, expect):
    sandbox.set_policy(shop["app_key"], [GOODS_IN_WAREHOUSE], 0.2)
    seed_one(sandbox, shop, customerExpect=expect, expressCode="SF1")
    assert register(asc)["success"] is True
    time.sleep(0.5)
    now = sandbox.service_order(501)
    assert now["serviceStatus"] == 10007 and now["policyFinishAt"] is None and "processResult" not in now


def test_a_policy_not_waiting_for_goods_in_warehouse_never_completes(sandbox, shop, asc):
    sandbox.set_policy(shop["app_key"], ["1"], 0.2)
    seed_one(sandbox, shop)
    register(asc)
    time.sleep(0.4)
    assert sandbox.service_order(501)["serviceStatus"] == 10007


@pytest.mark.parametrize(
    "fields, params, words",
    [
        ({}, {"serviceId": 999}, "服务单不存在"),
        ({}, {"orderId": 8100000002}, "订单号与服务单不匹配"),
        ({"serviceStatus": 10001}, {}, "服务单状态为待审核（10001），不是待收货"),
        ({"serviceStatus": 10007}, {}, "不是待收货"),
        ({"serviceStatus": 10011}, {}, "服务单状态为取消（10011）"),
        ({}, {"serviceId": "x"}, "参数serviceId必须是整数"),
        ({}, {"orderId": None}, "缺少参数orderId"),
    ],
)
def test_receive_register_refuses_what_jd_refuses(sandbox, shop, asc, fields, params, words):
    seed_one(sandbox, shop, **fields)
    sent = {"serviceId": 501, "orderId": 8100000001, **params}
    result = body(asc(REGISTER, {k: v for k, v in sent.items() if v is not None}), REGISTER)["result"]
    assert result["success"] is False and words in result["msg"]
    assert sandbox.service_order(501)["writebacks"] == []


def test_the_buyer_cancelling_drops_the_policys_refund(sandbox, shop, asc):
    sandbox.set_policy(shop["app_key"], [GOODS_IN_WAREHOUSE], 0.4)
    seed_one(sandbox, shop)
    register(asc)
    cancelled = sandbox.update_service_order(501, serviceStatus=10011)
    assert cancelled["policyFinishAt"] is None
    time.sleep(0.6)
    assert sandbox.service_order(501)["serviceStatus"] == 10011


# --- the other 退货入仓 candidate: updateWarehouseStatus naming the application behind it ---------------
def warehouse(call, order_id, ref_id, status):
    answer = call(WRITEBACK, {"orderId": order_id, "refId": ref_id, "status": status})
    payload = body(answer, WRITEBACK)
    return next(v for k, v in payload.items() if isinstance(v, dict))


def test_update_warehouse_status_on_the_application_behind_a_return_completes_it(sandbox, shop, call):
    sandbox.set_policy(shop["app_key"], [GOODS_IN_WAREHOUSE], 0.3)
    seed_one(sandbox, shop)
    assert warehouse(call, 8100000001, 401, GOODS_IN_WAREHOUSE)["success"] is True
    recorded = sandbox.service_order(501)["writebacks"]
    assert [(w["method"], w["status"]) for w in recorded] == [(WRITEBACK, GOODS_IN_WAREHOUSE)]
    time.sleep(0.6)
    assert sandbox.service_order(501)["serviceStatus"] == 10010
    assert warehouse(call, 8100000001, 401, GOODS_IN_WAREHOUSE)["success"] is True  # a repeat
    assert warehouse(call, 8100000001, 401, "1")["success"] is False  # 取消发货成功 makes no sense here
    assert warehouse(call, 8100000002, 401, GOODS_IN_WAREHOUSE)["success"] is False
    assert warehouse(call, 8100000001, 777, GOODS_IN_WAREHOUSE)["success"] is False  # no such application


# --- control API and bad-data faults -----------------------------------------------------------------
@pytest.mark.parametrize(
    "seed, field",
    [
        ({"serviceId": 1, "orderId": 2, "skuId": 3, "colour": "red"}, "service_orders[0].colour"),
        ({"serviceId": 1, "orderId": 2}, "service_orders[0].skuId"),
        (
            {"serviceId": 1, "orderId": 2, "skuId": 3, "serviceStatus": 12345},
            "service_orders[0].serviceStatus",
        ),
        (
            {"serviceId": 1, "orderId": 2, "skuId": 3, "customerExpect": 15},
            "service_orders[0].customerExpect",
        ),
        ({"serviceId": 1, "orderId": 2, "skuId": 3, "applyTime": "soon"}, "service_orders[0].applyTime"),
    ],
)
def test_the_control_api_names_the_bad_field(sandbox, shop, seed, field):
    with pytest.raises(SandboxError) as refused:
        sandbox.seed_service_orders(shop["app_key"], [seed])
    assert refused.value.status == 400 and refused.value.body["field"] == field


def test_unknown_service_orders_are_404(sandbox, shop):
    with pytest.raises(SandboxError) as missing:
        sandbox.service_order(123)
    assert missing.value.status == 404
    assert sandbox.shops()[0]["serviceOrders"] == 0


def test_corrupt_rows_faults_reach_service_order_rows(sandbox, shop, asc):
    seed_one(sandbox, shop)
    sandbox.set_faults(shop["app_key"], corrupt_rows=[{"key": "501", "set": {"serviceCount": "两件"}}])
    assert page(asc, serviceId=501)["data"][0]["serviceCount"] == "两件"
    assert sandbox.service_order(501)["serviceCount"] == 1  # the stored data stays as seeded
