"""JD's service orders as the source of returns, end to end: the real SA sandbox over HTTP, PostgreSQL.

A buyer's 退货 service order is downloaded, becomes a return slip carrying the buyer's waybill, is
scanned and audited, and exactly one 退货入仓 reaches the service order at JD (or the application behind
it, as the shop chooses); JD completes it and the slip shows 退款成功. Exchanges and repairs arrive with
their type and are never written back as a refund."""

from __future__ import annotations

import time

import pytest

from orders.models import ServiceOrderReturnSignal
from refunds.models import (
    ALREADY_DONE,
    PlatformObject,
    PlatformStatus,
    RawRefund,
    RefundType,
    WritebackStatus,
)
from returns.models import ReturnSlip, ReturnStatus, ShopReturnSettings
from returns.selectors import return_slips_for_scan
from returns.services import return_inbound_audit
from returns.tasks import returns_tick
from sa_sync.models import SyncKind, SyncRejectedRow, SyncRowOutcome
from sa_sync.platform_sync import shop_sync
from sa_sync.writeback import refund_writeback

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

REGISTER = "jingdong.asc.receive.register"
WAREHOUSE = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
ORDER_ID, SKU, OTHER_SKU = "810000000042", "100000000042", "100000000043"


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


def seed_order(sandbox, shop):
    sandbox.seed_orders(
        shop.app_key,
        [
            {
                "orderId": ORDER_ID,
                "orderState": "FINISHED_L",
                "itemInfoList": [
                    {"skuId": SKU, "skuName": "轻便透气跑步鞋 黑白 41", "jdPrice": "359.00", "itemTotal": 2},
                    {"skuId": OTHER_SKU, "skuName": "羊毛围巾 驼色", "jdPrice": "119.00", "itemTotal": 1},
                ],
            }
        ],
    )
    assert shop_sync(shop, kind=SyncKind.ORDERS).error == ""


def service_order(service_id: int, **fields) -> dict:
    return {
        "serviceId": service_id,
        "applyId": service_id - 100_000_000,
        "orderId": int(ORDER_ID),
        "skuId": int(SKU),
        "wareName": "轻便透气跑步鞋 黑白 41",
        "serviceCount": 2,
        "customerExpect": 10,
        "serviceStatus": 10005,  # JD approved: the buyer sends the goods back
        "actualPayPrice": "718.00",
        "questionTypeCid2Name": "尺码不合适",
        "questionDesc": "偏小一码",
        **fields,
    }


def sync_service_orders(shop):
    run = shop_sync(shop, kind=SyncKind.SERVICE_ORDERS)
    assert run.error == "", run.error
    return run


def audit_all(slip, by):
    received = {line.pk: (line.quantity, 0) for line in slip.lines.all()}
    return return_inbound_audit(slip.pk, by=by, received=received)


def wait_for(predicate, what: str, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.parametrize(
    "signal", [ServiceOrderReturnSignal.RECEIVE_REGISTER, ServiceOrderReturnSignal.WAREHOUSE_STATUS]
)
def test_a_buyers_return_service_order_goes_from_download_to_refunded(sandbox, jd, warehouse_user, signal):
    jd.service_order_return_signal = signal
    jd.save()
    ShopReturnSettings.objects.create(shop=jd, auto_create_from_refunds=True)
    sandbox.set_policy(jd.app_key, ["1", "2"], 0.5)
    seed_order(sandbox, jd)
    sandbox.seed_service_orders(jd.app_key, [service_order(1890000042)])

    # Downloaded: a 退货 slip waiting for the buyer's parcel, on its order line, from a service order.
    sync_service_orders(jd)
    raw = RawRefund.objects.get(shop=jd, refund_no="1890000042")
    assert (raw.refund_type, raw.platform_status) == (RefundType.RETURN, PlatformStatus.AWAITING_RETURN)
    assert (raw.platform_object, raw.platform_id) == (PlatformObject.SERVICE_ORDER, "1890000042")
    assert raw.oid == f"{ORDER_ID}-{SKU}" and raw.order_line is not None and raw.num == 2
    assert raw.platform_status_code == "10005" and raw.reason == "尺码不合适"

    # The buyer ships: the next sync brings 等待收货 and the waybill, the return slip takes it over.
    sandbox.ship_service_order(1890000042, app_key=jd.app_key, company="顺丰速运", waybill="SF7100000042")
    sync_service_orders(jd)
    raw = reload(raw)
    assert (raw.platform_status, raw.return_logistics_no) == (PlatformStatus.AWAITING_RECEIPT, "SF7100000042")
    returns_tick()
    slip = ReturnSlip.objects.get(raw_refund=raw)
    assert slip.status == ReturnStatus.AWAITING_INBOUND and slip.logistics_no == "SF7100000042"

    # Scanned and audited: exactly one 退货入仓, to the object the shop's setting names.
    [found] = return_slips_for_scan("SF7100000042")
    result = audit_all(found, warehouse_user)
    assert [r.succeeded for r in result.writeback_results] == [True]
    registers, warehouse = sandbox.calls(method=REGISTER), sandbox.calls(method=WAREHOUSE)
    if signal == ServiceOrderReturnSignal.RECEIVE_REGISTER:
        assert warehouse == [] and len(registers) == 1
        params = registers[0]["params"]
        assert (params["serviceId"], params["orderId"], params["wareNum"]) == (1890000042, int(ORDER_ID), 2)
        assert params["buId"] == jd.vender_id
    else:
        assert registers == [] and len(warehouse) == 1
        assert warehouse[0]["params"]["refId"] in (1790000042, "1790000042")
    assert reload(raw).writeback_status == WritebackStatus.SUCCEEDED
    assert reload(raw).platform_status == PlatformStatus.AWAITING_RECEIPT  # a writeback is not a refund

    # JD completes it after the policy's delay; the sync shows 退款成功; nothing is sent again.
    wait_for(
        lambda: sandbox.service_order(1890000042, app_key=jd.app_key)["serviceStatus"] == 10010,
        "沙箱未按策略完成服务单",
    )
    sync_service_orders(jd)
    assert reload(raw).platform_status == PlatformStatus.REFUNDED
    returns_tick()
    [again] = refund_writeback([raw.pk], by=warehouse_user)
    assert again.message == ALREADY_DONE
    assert len(sandbox.calls(method=REGISTER)) + len(sandbox.calls(method=WAREHOUSE)) == 1


def test_exchanges_repairs_and_reissues_arrive_with_their_type_and_are_never_written_back(
    sandbox, jd, cs_user
):
    sandbox.set_policy(jd.app_key, ["1", "2"], 0.2)
    seed_order(sandbox, jd)
    sandbox.seed_service_orders(
        jd.app_key,
        [
            service_order(1890000051, customerExpect=20, serviceCount=1, expressCode="SF1"),
            service_order(
                1890000052, customerExpect=30, skuId=int(OTHER_SKU), serviceCount=1, serviceStatus=10007
            ),
            service_order(
                1890000053, customerExpect=80, skuId=int(OTHER_SKU), serviceCount=1, serviceStatus=10007
            ),
        ],
    )
    sync_service_orders(jd)
    slips = {s.refund_no: s for s in RawRefund.objects.filter(shop=jd)}
    exchange, repair, reissue = slips["1890000051"], slips["1890000052"], slips["1890000053"]
    assert (exchange.refund_type, exchange.platform_status) == (
        RefundType.EXCHANGE,
        PlatformStatus.AWAITING_RECEIPT,
    )
    assert (repair.refund_type, repair.platform_status) == (
        RefundType.REPAIR,
        PlatformStatus.AWAITING_RECEIPT,
    )
    assert (reissue.refund_type, reissue.platform_status) == (RefundType.REISSUE, PlatformStatus.APPLIED)
    assert exchange.get_refund_type_display() == "换货" and repair.get_refund_type_display() == "维修"
    assert reissue.get_refund_type_display() == "补发"

    results = refund_writeback([exchange.pk, repair.pk, reissue.pk], by=cs_user)
    assert [r.succeeded for r in results] == [False, False, False]
    assert "换货单无需回传退款信号" in results[0].message
    assert "维修单无需回传退款信号" in results[1].message
    assert "补发单无需回传退款信号" in results[2].message
    assert sandbox.calls(method=REGISTER) == [] and sandbox.calls(method=WAREHOUSE) == []

    # JD finishing the exchange is 售后完成, not 退款成功
    sandbox.update_service_order(1890000051, app_key=jd.app_key, serviceStatus=10010, processResult=80)
    sync_service_orders(jd)
    assert reload(exchange).platform_status == PlatformStatus.SERVICE_COMPLETED


def test_a_service_order_the_erp_cannot_store_is_set_aside_and_the_rest_is_saved(sandbox, jd):
    seed_order(sandbox, jd)
    sandbox.seed_service_orders(
        jd.app_key, [service_order(1890000061), service_order(1890000062, customerExpect=40)]
    )
    sandbox.set_faults(jd.app_key, corrupt_rows=[{"key": "1890000061", "set": {"serviceCount": "两件"}}])
    run = sync_service_orders(jd)
    assert run.rows_rejected == 2 and not RawRefund.objects.filter(shop=jd).exists()
    reasons = {r.platform_id: r.reason for r in SyncRejectedRow.objects.filter(run=run)}
    assert "售后数量（serviceCount）应为整数" in reasons["1890000061"]
    assert "大家电安装" in reasons["1890000062"]
    assert {r.kind for r in SyncRejectedRow.objects.filter(run=run)} == {SyncKind.SERVICE_ORDERS}
    assert {r.outcome for r in SyncRejectedRow.objects.filter(run=run)} == {SyncRowOutcome.REJECTED}

    sandbox.clear_faults(jd.app_key)
    sync_service_orders(jd)
    assert list(RawRefund.objects.filter(shop=jd).values_list("refund_no", flat=True)) == ["1890000061"]


def test_a_shop_without_its_jd_merchant_id_is_told_so(sandbox, jd):
    jd.vender_id = ""
    jd.save()
    run = shop_sync(jd, kind=SyncKind.SERVICE_ORDERS)
    assert "京东商家ID" in run.error


def test_a_service_id_that_is_already_a_refund_applications_slip_is_set_aside_not_merged(sandbox, jd):
    from tests.factories import RawRefundFactory

    application = RawRefundFactory(shop=jd, refund_no="1890000071", refund_type=RefundType.REFUND)
    seed_order(sandbox, jd)
    sandbox.seed_service_orders(jd.app_key, [service_order(1890000071), service_order(1890000072)])
    run = sync_service_orders(jd)
    [rejected] = SyncRejectedRow.objects.filter(run=run)
    assert rejected.platform_id == "1890000071" and rejected.kind == SyncKind.SERVICE_ORDERS
    assert "已是本店铺的退款申请单，不能再保存为服务单" in rejected.reason
    application = reload(application)
    assert (application.platform_object, application.refund_type) == (
        PlatformObject.REFUND_APPLY,
        RefundType.REFUND,
    )
    assert (
        RawRefund.objects.get(shop=jd, refund_no="1890000072").platform_object == PlatformObject.SERVICE_ORDER
    )
    assert (run.rows_new, run.rows_rejected) == (1, 1)
