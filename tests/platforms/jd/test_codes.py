"""The sandbox and the back office read one table of JD's states (platforms.jd.codes). These fail if
they ever diverge: the sandbox driven over HTTP for every code, against what the back office's own
rules (the slip's refusal, the sendable query, the sync's mapping) say about the same code."""

import time

import pytest

from orders.models import OrderStatus
from platforms.jd import codes as jd_codes
from platforms.jd import mapping
from refunds.models import PlatformStatus, RawRefund, RefundType
from sandbox import records
from sandbox.testing import jos_call

from ...factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db

ALL_CODES = sorted(jd_codes.REFUND_APPLY_STATES)
WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
KINDS = {
    # writeback value → (kind, order status, local type / platform status). 退货入仓 on a refund
    # application's state: what JD's table says of it, whichever object a return comes from.
    "1": (jd_codes.SHIPMENT_CANCELLED, OrderStatus.AWAITING_CS_REVIEW, RefundType.REFUND),
    "2": (jd_codes.GOODS_IN_WAREHOUSE, OrderStatus.COMPLETED, RefundType.RETURN),
}


def test_the_sandbox_imports_the_back_offices_table():
    assert records.REFUND_STATUSES == jd_codes.REFUND_APPLY_STATUS
    assert records.CLOSED_STATUSES == jd_codes.CLOSED_STATUSES
    assert set(ALL_CODES) == set(range(12))


def test_every_code_has_a_label_a_platform_status_and_a_reason_when_it_refuses():
    for code, state in jd_codes.REFUND_APPLY_STATES.items():
        assert state.label and state.code == code
        assert mapping.platform_status_for(code, RefundType.REFUND) in PlatformStatus.values
        if not (state.shipment_cancelled and state.goods_in_warehouse):
            assert state.refusal, code
    # The cases, spelled out: JD's word beats the ERP's view.
    for code in (7, 8, 10):
        assert not jd_codes.allows(code, jd_codes.SHIPMENT_CANCELLED)
    for code in (2, 3, 4, 6, 9, 11):
        assert jd_codes.REFUND_APPLY_STATES[code].closed


def back_office_would_send(shop, code, value) -> bool:
    kind, order_status, refund_type = KINDS[value]
    status = PlatformStatus.APPLIED if refund_type == RefundType.REFUND else PlatformStatus.AWAITING_RECEIPT
    line = OrderLineFactory(order=OrderFactory(shop=shop, status=order_status))
    slip = RawRefundFactory(
        order_line=line,
        refund_type=refund_type,
        platform_status=status,
        platform_status_code=str(code),
        num=1,
        inbound_num=1,
    )
    slip = RawRefund.objects.select_related("shop", "order", "order_line").get(pk=slip.pk)
    by_refusal = slip.writeback_refusal() is None
    by_query = RawRefund.objects.sendable().filter(pk=slip.pk).exists()
    assert by_refusal == by_query, (code, value)
    return by_refusal


@pytest.mark.parametrize("value", sorted(KINDS))
def test_the_sandbox_refunds_exactly_where_the_back_office_sends(sandbox, jd, value):
    kind, _, _ = KINDS[value]
    sandbox.set_policy(jd.app_key, auto_refund_on=["1", "2"], delay_seconds=0)
    sandbox_refunds, back_office_sends = {}, {}
    for code in ALL_CODES:
        refund_id = 7300000000 + code
        sandbox.seed_refunds(
            jd.app_key,
            [
                {
                    "id": refund_id,
                    "orderId": 840000000000 + code,
                    "status": code,
                }
            ],
        )
        answer = jos_call(
            sandbox.jos_url,
            jd.app_key,
            jd.app_secret,
            jd.access_token,
            WRITEBACK,
            {"orderId": 840000000000 + code, "refId": refund_id, "status": value},
        )
        accepted = answer[f"{WRITEBACK.replace('.', '_')}_responce"]["returnType"]["success"]
        assert accepted is (code not in jd_codes.CLOSED_STATUSES), code
        back_office_sends[code] = back_office_would_send(jd, code, value)
    time.sleep(0.3)  # the policy timer promotes due applications every 0.1 s
    for code in ALL_CODES:
        refund = sandbox.refund(7300000000 + code)
        refunded_by_policy = code not in jd_codes.CLOSED_STATUSES and refund["status"] == 3
        sandbox_refunds[code] = refunded_by_policy
    assert sandbox_refunds == back_office_sends
    assert sandbox_refunds == {c: jd_codes.allows(c, kind) for c in ALL_CODES}
