"""Return slips, inbound audit and the 退货入仓 writeback, against the SA sandbox over real HTTP.

Returns are JD's after-sales service orders: the sandbox holds each 退货 slip as a service order, and
退货入仓 reaches it as 收货登记 (jingdong.asc.receive.register, the shops' default)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.audit import events_for
from orders.models import ArrivalRule, OrderStatus
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from returns.models import ReturnSlip, ReturnStatus, ShopReturnSettings
from returns.selectors import overdue_return_slips
from returns.services import (
    ReturnRefused,
    return_inbound_audit,
    return_inbound_record,
    return_slip_accept_received,
    return_slip_create,
    return_slip_transition,
    return_slips_auto_create,
    return_writeback_followup,
)
from sa_sync.models import SyncKind, WritebackAttempt
from sa_sync.platform_sync import shop_sync

from .conftest import seed_applications
from .factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER = "jingdong.asc.receive.register"
WAREHOUSE = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


def writebacks(sandbox):
    """Every 退货入仓 JD received, whichever call carried it."""
    return sandbox.calls(method=REGISTER) + sandbox.calls(method=WAREHOUSE)


def seed(sandbox, *slips):
    """JD's side of local 退货 slips: their service orders, in the state that maps back (等待退货 /
    等待收货 with the buyer's waybill)."""
    seed_applications(sandbox, slips)


def registered(call, raw) -> bool:
    """The call is 收货登记 of this slip's service order."""
    params = call["params"]
    return call["method"] == REGISTER and (params["serviceId"], params["orderId"]) == (
        int(raw.refund_no),
        int(raw.tid),
    )


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


def order_a2_b1(shop):
    """The seed's order: A ×2, B ×1."""
    order = OrderFactory(shop=shop, status=OrderStatus.COMPLETED)
    a = OrderLineFactory(order=order, num=2, goods_name="A")
    b = OrderLineFactory(order=order, num=1, goods_name="B")
    return order, a, b


def return_refund(line, num, platform_status=PlatformStatus.AWAITING_RECEIPT):
    return RawRefundFactory(
        order_line=line, refund_type=RefundType.RETURN, platform_status=platform_status, num=num
    )


def approved(by, **kwargs):
    slip = return_slip_create(by=by, **kwargs)
    return return_slip_transition(slip.pk, "approve", by=by)


def audit(slip, by, good=None, damaged=0):
    """Record and audit in one go, as the scan page does: every line received in full unless told."""
    received = {line.pk: (line.quantity if good is None else good, damaged) for line in slip.lines.all()}
    return return_inbound_audit(slip.pk, by=by, received=received)


# --- the seed's example ---------------------------------------------------------------------------
@pytest.mark.parametrize("rule", [ArrivalRule.FULL, ArrivalRule.PARTIAL])
def test_seed_example_x_then_y(sandbox, jd, cs_user, warehouse_user, rule):
    jd.arrival_rule = rule
    jd.save()
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    seed(sandbox, raw)
    x = approved(cs_user, raw_refund=raw, quantity=1, logistics_company="顺丰", logistics_no="SF100")
    y = approved(cs_user, raw_refund=raw, quantity=1, logistics_no="SF101")

    result = audit(x, warehouse_user)
    assert result.completed and reload(x).status == ReturnStatus.INBOUND_DONE
    raw = reload(raw)
    assert raw.inbound_num == 1
    if rule == ArrivalRule.FULL:
        assert writebacks(sandbox) == []
        assert raw.writeback_status == WritebackStatus.NOT_SENT
        assert "退货未全部到货（已入库 1/2" in raw.writeback_message
    else:
        [call] = writebacks(sandbox)
        # partial arrival: JD hears of the one unit that is in
        assert registered(call, raw) and call["params"]["wareNum"] == 1
        assert raw.writeback_status == WritebackStatus.SUCCEEDED

    audit(y, warehouse_user)
    raw = reload(raw)
    assert raw.inbound_num == 2
    assert raw.writeback_status == WritebackStatus.SUCCEEDED
    assert len(writebacks(sandbox)) == 1  # once, whichever audit triggered it
    attempt = WritebackAttempt.objects.get(slip=raw, outcome="succeeded")
    assert (attempt.trigger, attempt.actor_name) == ("return_inbound", warehouse_user.username)
    totals = [(e.from_state, e.to_state) for e in events_for(raw).filter(field="inbound_num").order_by("id")]
    assert totals == [("0", "1"), ("1", "2")]


def test_b_alone_by_hand(sandbox, jd, cs_user, warehouse_user):
    order, a, b = order_a2_b1(jd)
    raw_a, raw_b = return_refund(a, num=2), return_refund(b, num=1)
    seed(sandbox, raw_a, raw_b)
    slip = approved(cs_user, order=order, lines={b.pk: 1})
    audit(slip, warehouse_user)
    assert reload(raw_b).inbound_num == 1 and reload(raw_b).writeback_status == WritebackStatus.SUCCEEDED
    assert reload(raw_a).inbound_num == 0 and reload(raw_a).writeback_status == WritebackStatus.NOT_SENT
    assert [c["params"]["serviceId"] for c in writebacks(sandbox)] == [int(raw_b.refund_no)]


def test_three_slips_over_one_line_one_rejected_before_inbound(sandbox, jd, cs_user, warehouse_user):
    order = OrderFactory(shop=jd, status=OrderStatus.COMPLETED)
    line = OrderLineFactory(order=order, num=3)
    raw = return_refund(line, num=3)
    seed(sandbox, raw)
    p, q, r = (approved(cs_user, raw_refund=raw, quantity=1) for _ in range(3))
    return_slip_transition(r.pk, "reject", by=cs_user, reason="买家未寄回")
    audit(p, warehouse_user)
    audit(q, warehouse_user)
    assert reload(raw).inbound_num == 2 and writebacks(sandbox) == []
    # The rejected slip released its quantity: a new slip may take it.
    s = approved(cs_user, raw_refund=raw, quantity=1)
    audit(s, warehouse_user)
    assert reload(raw).inbound_num == 3
    assert len(writebacks(sandbox)) == 1


def test_over_return_is_refused_with_the_quantities(jd, cs_user):
    order, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    return_slip_create(by=cs_user, order=order, lines={a.pk: 2})
    with pytest.raises(ReturnRefused) as refused:
        return_slip_create(by=cs_user, order=order, lines={a.pk: 1})
    assert "退货数量 1 超过可退数量 0（购买 2，其他未关闭退货单已占 2）" in refused.value.message
    with pytest.raises(ReturnRefused) as refused:
        return_slip_create(by=cs_user, raw_refund=raw, quantity=3)
    assert "退货数量 3 超过可建数量 2（退款数量 2，其他未关闭退货单已建 0）" in refused.value.message
    assert ReturnSlip.objects.count() == 1


def test_non_return_raw_refund_cannot_make_a_return_slip(jd, cs_user):
    raw = RawRefundFactory(order_line=OrderLineFactory(order=OrderFactory(shop=jd)))
    with pytest.raises(ReturnRefused, match="只有“退货”类型可以建退货单"):
        return_slip_create(by=cs_user, raw_refund=raw)


def test_over_receipt_is_refused_and_nothing_recorded(jd, cs_user, warehouse_user):
    _, a, _ = order_a2_b1(jd)
    slip = approved(cs_user, raw_refund=return_refund(a, num=2))
    [line] = slip.lines.all()
    with pytest.raises(ReturnRefused) as refused:
        return_inbound_record(slip.pk, {line.pk: (2, 1)}, by=warehouse_user)
    assert "实收 3（良品 2，残次 1）超过退货数量 2" in refused.value.message
    with pytest.raises(ReturnRefused):
        return_inbound_audit(slip.pk, by=warehouse_user, received={line.pk: (3, 0)})
    assert reload(slip).status == ReturnStatus.AWAITING_INBOUND
    assert not hasattr(reload(slip), "inbound") or not reload(slip).inbound.lines.exists()


def test_audit_twice_is_refused(sandbox, jd, cs_user, warehouse_user):
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    seed(sandbox, raw)
    slip = approved(cs_user, raw_refund=raw)
    audit(slip, warehouse_user)
    with pytest.raises(ReturnRefused, match="不能重复审核"):
        return_inbound_audit(slip.pk, by=warehouse_user)
    assert reload(raw).inbound_num == 2 and len(writebacks(sandbox)) == 1


def test_mismatch_goes_to_cs_then_cs_accepts_what_arrived(sandbox, jd, cs_user, warehouse_user):
    jd.arrival_rule = ArrivalRule.PARTIAL
    jd.save()
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    seed(sandbox, raw)
    slip = approved(cs_user, raw_refund=raw)
    result = audit(slip, warehouse_user, good=1)
    slip = reload(slip)
    assert not result.completed and slip.status == ReturnStatus.AWAITING_CS
    assert "申请 2，实收 1（良品 1，残次 0），相差 1" in slip.cs_message
    assert reload(raw).inbound_num == 0 and writebacks(sandbox) == []
    assert not slip.inbound.audited

    result = return_slip_accept_received(slip.pk, by=cs_user)
    slip = reload(slip)
    assert result.completed and slip.status == ReturnStatus.INBOUND_DONE
    assert slip.lines.get().quantity == 1
    assert reload(raw).inbound_num == 1 and len(writebacks(sandbox)) == 1


def test_damaged_goods_do_not_count_as_arrived(sandbox, jd, cs_user, warehouse_user):
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    seed(sandbox, raw)
    slip = approved(cs_user, raw_refund=raw)
    [line] = slip.lines.all()
    assert return_inbound_audit(slip.pk, by=warehouse_user, received={line.pk: (1, 1)}).completed
    raw = reload(raw)
    assert raw.inbound_num == 1 and "退货未全部到货（已入库 1/2" in raw.writeback_message


def test_slip_not_awaiting_receipt_is_not_sent_then_follows_after_sync(sandbox, jd, cs_user, warehouse_user):
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2, platform_status=PlatformStatus.AWAITING_RETURN)
    seed(sandbox, raw)
    slip = approved(cs_user, raw_refund=raw)
    result = audit(slip, warehouse_user)
    raw = reload(raw)
    assert raw.inbound_num == 2 and writebacks(sandbox) == []
    assert "平台状态为“等待退货”，需为“等待收货”" in raw.writeback_message
    assert result.decisions[raw.pk] == raw.writeback_message

    # The buyer ships; the platform sync brings 等待收货; the returns tick sends it by itself.
    sandbox.ship_service_order(int(raw.refund_no), app_key=jd.app_key)
    assert shop_sync(jd, kind=SyncKind.SERVICE_ORDERS).error == ""
    assert reload(raw).platform_status == PlatformStatus.AWAITING_RECEIPT
    [outcome] = return_writeback_followup()
    assert outcome.succeeded and len(writebacks(sandbox)) == 1
    assert return_writeback_followup() == []


def test_auto_created_return_slips(jd):
    order, a, b = order_a2_b1(jd)
    raw_a = return_refund(a, num=2, platform_status=PlatformStatus.AWAITING_RETURN)
    return_refund(b, num=1)
    RawRefundFactory(order_line=OrderLineFactory(order=order))  # 退款: never
    assert return_slips_auto_create()["created"] == []  # switched off by default

    ShopReturnSettings.objects.create(shop=jd, auto_create_from_refunds=True)
    created = return_slips_auto_create()["created"]
    assert len(created) == 2
    slip_a = ReturnSlip.objects.get(raw_refund=raw_a)
    assert slip_a.status == ReturnStatus.AWAITING_INBOUND and slip_a.lines.get().quantity == 2
    assert slip_a.created_by_name == "系统：自动建退货单"
    assert return_slips_auto_create()["created"] == []  # a second tick creates nothing twice


def test_overdue_return_slips_are_flagged_not_closed(jd, cs_user):
    _, a, b = order_a2_b1(jd)
    old = approved(cs_user, raw_refund=return_refund(a, num=2))
    fresh = approved(cs_user, raw_refund=return_refund(b, num=1))
    ReturnSlip.objects.filter(pk=old.pk).update(approved_at=timezone.now() - timedelta(days=15))
    assert list(overdue_return_slips()) == [old]
    ShopReturnSettings.objects.create(shop=jd, inbound_time_limit_days=30)
    assert list(overdue_return_slips()) == []
    assert reload(old).status == ReturnStatus.AWAITING_INBOUND and fresh


def test_reject_and_cancel_only_when_allowed(jd, cs_user, warehouse_user):
    _, a, _ = order_a2_b1(jd)
    slip = approved(cs_user, raw_refund=return_refund(a, num=2))
    return_slip_transition(slip.pk, "cancel", by=cs_user, reason="买家撤销")
    with pytest.raises(ReturnRefused, match="当前状态为“已取消”，不能驳回"):
        return_slip_transition(slip.pk, "reject", by=cs_user)
    actions = list(events_for(slip).order_by("id").values_list("action", flat=True))
    assert actions == ["创建退货单", "审核通过", "取消"]


def test_end_to_end_refund_succeeds_and_sync_shows_it(sandbox, jd, cs_user, warehouse_user):
    """Return slip, inbound, audit, writeback in the sandbox's log, JD refunds, sync shows 退款成功."""
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    seed(sandbox, raw)
    slip = approved(cs_user, raw_refund=raw, logistics_no="JDV0001")
    [line] = slip.lines.all()
    return_inbound_record(slip.pk, {line.pk: (2, 0)}, by=warehouse_user)
    result = return_inbound_audit(slip.pk, by=warehouse_user)
    assert [r.succeeded for r in result.writeback_results] == [True]
    assert registered(writebacks(sandbox)[0], raw)
    deadline = time.monotonic() + 10
    while sandbox.service_order(int(raw.refund_no), app_key=jd.app_key)["serviceStatus"] != 10010:
        assert time.monotonic() < deadline, "沙箱未按策略完成并退款"
        time.sleep(0.2)
    assert shop_sync(jd, kind=SyncKind.SERVICE_ORDERS).error == ""
    assert reload(raw).platform_status == PlatformStatus.REFUNDED


@pytest.mark.postgres
@pytest.mark.parametrize("rule", [ArrivalRule.FULL, ArrivalRule.PARTIAL])
def test_concurrent_audits_of_x_and_y_write_back_once_with_total_2(
    sandbox, jd, cs_user, warehouse_user, rule
):
    jd.arrival_rule = rule
    jd.save()
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    seed(sandbox, raw)
    slips = [approved(cs_user, raw_refund=raw, quantity=1) for _ in range(2)]
    for slip in slips:
        [line] = slip.lines.all()
        return_inbound_record(slip.pk, {line.pk: (1, 0)}, by=warehouse_user)
    barrier = threading.Barrier(2)
    errors = []

    def warehouse(slip):
        try:
            barrier.wait()
            return_inbound_audit(slip.pk, by=warehouse_user)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=warehouse, args=(s,)) for s in slips]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    raw = reload(raw)
    assert raw.inbound_num == 2
    assert raw.writeback_status == WritebackStatus.SUCCEEDED
    assert len(writebacks(sandbox)) == 1
    assert RawRefund.objects.get(pk=raw.pk).attempts.filter(outcome="succeeded").count() == 1


def test_too_long_waybill_is_refused_in_words(jd, cs_user):
    _, a, _ = order_a2_b1(jd)
    with pytest.raises(ReturnRefused, match="物流单号过长：65 个字符，最多 64 个"):
        return_slip_create(by=cs_user, raw_refund=return_refund(a, num=2), logistics_no="S" * 65)


def test_beat_runs_the_returns_tick_which_auto_creates(jd):
    from django_celery_beat.models import PeriodicTask

    from returns.schedules import RETURNS_TICK_NAME
    from returns.tasks import returns_tick

    if not PeriodicTask.objects.filter(name=RETURNS_TICK_NAME).exists():
        # A transactional test flushed what the migration created: put it back.
        from django.apps import apps

        from returns.schedules import ensure_returns_schedule

        ensure_returns_schedule(apps)
    assert PeriodicTask.objects.get(name=RETURNS_TICK_NAME).task == "returns.tick"
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2, platform_status=PlatformStatus.AWAITING_RETURN)
    ShopReturnSettings.objects.create(shop=jd, auto_create_from_refunds=True)
    returns_tick()
    assert ReturnSlip.objects.get(raw_refund=raw).status == ReturnStatus.AWAITING_INBOUND


def test_buyer_ships_in_jd_and_the_parcel_is_scanned_audited_and_refunded(sandbox, jd, warehouse_user):
    """The whole return as JD plays it: approved (等待退货), the buyer ships (sandbox), the sync brings
    等待收货 with the waybill, the tick makes the return slip carrying it, the warehouse scans that
    waybill and audits, 退货入仓 reaches JD once, JD refunds, the sync shows 退款成功."""
    from returns.selectors import return_slips_for_scan
    from returns.tasks import returns_tick

    ShopReturnSettings.objects.create(shop=jd, auto_create_from_refunds=True)
    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2, platform_status=PlatformStatus.AWAITING_RETURN)
    seed(sandbox, raw)

    returns_tick()  # 等待退货: the slip is made, no parcel yet
    slip = ReturnSlip.objects.get(raw_refund=raw)
    assert slip.status == ReturnStatus.AWAITING_INBOUND and slip.logistics_no == ""

    sandbox.ship_service_order(
        int(raw.refund_no), app_key=jd.app_key, company="顺丰速运", waybill="SF7000000001"
    )
    assert shop_sync(jd, kind=SyncKind.SERVICE_ORDERS).error == ""
    raw = reload(raw)
    assert raw.platform_status == PlatformStatus.AWAITING_RECEIPT
    # JD's list row carries the waybill; the carrier is with JD's freight record, not on the row
    assert raw.return_logistics_no == "SF7000000001"

    returns_tick()  # the slip takes the buyer's waybill over, and says so in its log
    slip = reload(slip)
    assert slip.logistics_no == "SF7000000001"
    assert events_for(slip).filter(action="买家已寄回").count() == 1

    [found] = return_slips_for_scan("SF7000000001")
    assert found.pk == slip.pk
    result = audit(found, warehouse_user)
    assert [r.succeeded for r in result.writeback_results] == [True]
    [call] = writebacks(sandbox)
    assert registered(call, raw)

    deadline = time.monotonic() + 10
    while sandbox.service_order(int(raw.refund_no), app_key=jd.app_key)["serviceStatus"] != 10010:
        assert time.monotonic() < deadline, "沙箱未按策略完成并退款"
        time.sleep(0.2)
    assert shop_sync(jd, kind=SyncKind.SERVICE_ORDERS).error == ""
    assert reload(raw).platform_status == PlatformStatus.REFUNDED
    returns_tick()
    assert len(writebacks(sandbox)) == 1  # never twice


def test_a_waybill_typed_by_hand_is_not_overwritten_by_jds(jd, cs_user):
    from returns.services import return_slip_waybills_fill

    _, a, _ = order_a2_b1(jd)
    raw = return_refund(a, num=2)
    slip = approved(cs_user, raw_refund=raw, logistics_company="中通", logistics_no="ZT100")
    RawRefund.objects.filter(pk=raw.pk).update(return_logistics_company="顺丰速运", return_logistics_no="SF1")
    assert return_slip_waybills_fill() == 0
    assert reload(slip).logistics_no == "ZT100"


def test_the_buyers_waybill_from_jd_is_checked_not_cut():
    from platforms.jd.service_orders import service_order_fields

    item = {"serviceId": 1, "orderId": 2, "skuId": 3, "customerExpect": 10, "serviceStatus": 10005}
    notes: list = []
    fields = service_order_fields({**item, "expressCode": "SF" + "9" * 80}, notes)
    assert fields["return_logistics_no"] == "" and fields["platform_status"] == PlatformStatus.AWAITING_RETURN
    assert any("退回物流单号" in note and "未保存" in note for note in notes)
    fields = service_order_fields({**item, "expressCode": "SF123"})
    assert (fields["return_logistics_no"], fields["platform_status"]) == (
        "SF123",
        PlatformStatus.AWAITING_RECEIPT,
    )
