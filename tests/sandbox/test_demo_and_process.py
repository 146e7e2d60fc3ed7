"""Demo data, and the process itself (start with --demo, stop on SIGTERM)."""

from __future__ import annotations

from collections import Counter

from refunds.reasons import COMMON_REASONS
from sa_sync.demo_shops import DEMO_SHOPS
from sandbox.demo import build_demo
from sandbox.testing import jos_call, start_sandbox

from .support import ANY_TIME, ORDER_SEARCH, PAGE_LIST, WRITEBACK, body

TIME_FIELDS = {"orderStartTime", "paymentConfirmTime", "modified", "applyTime", "checkTime", "policyRefundAt"}
REASONS = set(COMMON_REASONS)  # the sandbox speaks the reasons the back office filters on


def without_times(rows):
    return [{k: v for k, v in row.items() if k not in TIME_FIELDS} for row in rows]


def test_demo_is_deterministic():
    assert build_demo(now=1_770_000_000) == build_demo(now=1_770_000_000)
    assert build_demo(now=1_770_000_000, seed=1) != build_demo(now=1_770_000_000)


def test_demo_data_is_coherent():
    now = 1_770_000_000
    for index, entry in enumerate(build_demo(now=now)):
        orders, refunds, services = entry["orders"], entry["refunds"], entry["service_orders"]
        assert entry["shop"]["app_key"] == DEMO_SHOPS[index]["app_key"]
        assert 70 <= len(orders) <= 90 and len(refunds) == 24 and len(services) == 33
        assert all(len(o["orderId"]) == 12 and o["orderId"].startswith("8") for o in orders)
        assert len({o["orderId"] for o in orders}) == len(orders)
        assert {o["orderState"] for o in orders} >= {
            "WAIT_SELLER_STOCK_OUT",
            "WAIT_GOODS_RECEIVE_CONFIRM",
            "FINISHED_L",
            "TRADE_CANCELED",
            "LOCKED",
        }
        assert all(1 <= len(o["itemInfoList"]) <= 3 for o in orders)
        assert all(len(x["skuId"]) == 12 for o in orders for x in o["itemInfoList"])
        first = (7_000_000_001, 7_100_000_001)[index]
        assert sorted(r["id"] for r in refunds) == list(range(first, first + len(refunds)))
        assert {r["status"] for r in refunds} == set(range(12))
        assert {r["reason"] for r in refunds} <= REASONS
        # service orders: every type the ERP keeps, every state it maps, returns shipped back or not
        assert {s["customerExpect"] for s in services} == {10, 11, 20, 30, 80}
        assert {s["serviceStatus"] for s in services} == {10001, 10004, 10005, 10007, 10010, 10011}
        assert (
            sum(
                1
                for s in services
                if (s["customerExpect"], s["serviceStatus"]) == (10, 10005) and s.get("expressCode")
            )
            >= 5
        )
        first_service = (1_810_000_001, 1_820_000_001)[index]
        assert sorted(s["serviceId"] for s in services) == list(
            range(first_service, first_service + len(services))
        )
        received = {
            o["orderId"] for o in orders if o["orderState"] in ("WAIT_GOODS_RECEIVE_CONFIRM", "FINISHED_L")
        }
        assert all(str(s["orderId"]) in received for s in services)
        lines = {
            (int(o["orderId"]), x["skuId"]): int(x["itemTotal"]) for o in orders for x in o["itemInfoList"]
        }
        for r in refunds:
            (sku,) = r["skuVoList"]  # one order line per application
            assert 1 <= sku["skuCount"] <= lines[(r["orderId"], sku["skuId"])], r
            assert (r["checkTime"] is None) == (r["status"] == 0)
        for s in services:
            assert 1 <= s["serviceCount"] <= lines[(s["orderId"], str(s["skuId"]))], s
        # enough open cases to demo 取消发货成功
        assert Counter(r["status"] for r in refunds)[0] >= 5
    a, b = build_demo(now=now)
    assert not {o["orderId"] for o in a["orders"]} & {o["orderId"] for o in b["orders"]}


def test_demo_loads_over_the_control_api_and_again_identically(sandbox):
    loaded = sandbox.load_demo()
    assert set(loaded) == {s["app_key"] for s in DEMO_SHOPS}
    first_orders, first_refunds = sandbox.orders(), sandbox.refunds()
    sandbox.load_demo()
    assert without_times(sandbox.orders()) == without_times(first_orders)
    assert without_times(sandbox.refunds()) == without_times(first_refunds)

    shop = DEMO_SHOPS[0]
    result = jos_call(
        sandbox.jos_url,
        shop["app_key"],
        shop["app_secret"],
        shop["access_token"],
        PAGE_LIST,
        {**ANY_TIME, "pageSize": 50},
    )
    page = body(result, PAGE_LIST)["queryResult"]
    assert page["totalCount"] == loaded[shop["app_key"]]["refunds"]


def test_demo_process_plays_the_whole_refund_only_story():
    """--demo from the command line: pick an open refund-only case, write back 取消发货成功, see it refunded."""
    with start_sandbox(demo=True, policy_delay=0.2) as process:
        shop = DEMO_SHOPS[1]
        creds = (shop["app_key"], shop["app_secret"], shop["access_token"])
        orders = body(jos_call(process.jos_url, *creds, ORDER_SEARCH, {"page_size": 100}), ORDER_SEARCH)
        assert orders["searchorderinfo_result"]["orderTotal"] == 80
        page = body(
            jos_call(process.jos_url, *creds, PAGE_LIST, {**ANY_TIME, "status": 0, "pageSize": 50}), PAGE_LIST
        )
        case = page["queryResult"]["result"][0]
        params = {"orderId": int(case["orderId"]), "refId": case["id"], "status": 1}
        assert body(jos_call(process.jos_url, *creds, WRITEBACK, params), WRITEBACK)["returnType"]["success"]
        import time

        deadline = time.monotonic() + 15
        while process.refund(case["id"])["status"] != 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.refund(case["id"])["status"] == 3
        assert process.stop(timeout=10) == 0, process.output()  # SIGTERM stops it cleanly


def test_the_sandbox_never_imports_django():
    import subprocess
    import sys

    from sandbox.testing import REPO_ROOT

    code = (
        "import sys, sandbox.__main__, sandbox.testing;"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django');"
        "sys.exit(f'django modules imported: {loaded}' if loaded else 0)"
    )
    finished = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
