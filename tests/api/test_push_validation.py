"""What a push may not carry, and what it leaves alone: a `modified` from the future (it would win
every later newer-wins comparison), ids with whitespace (never JD's), and an omitted
platform_status_code (kept as stored, not blanked)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from refunds.models import RawRefund

pytestmark = pytest.mark.django_db

REFUNDS = "/api/v1/raw-refunds/"
ORDERS = "/api/v1/orders/"


def refund(n=1, **extra):
    return {
        "refund_no": f"8{n:09d}",
        "tid": f"3{n:09d}",
        "oid": f"3{n:09d}-1",
        "refund_type": 1,
        "platform_status": 2,
        "refund_amount": "12.30",
        "modified": "2026-11-28T10:00:00+08:00",
        **extra,
    }


def order(n=1, **extra):
    return {
        "tid": f"3{n:09d}",
        "modified": "2026-11-28T09:00:00+08:00",
        "lines": [{"oid": f"3{n:09d}-1", "goods_name": "跑步鞋 42码", "price": "99.00", "paid": "99.00"}],
        **extra,
    }


def errors(response, status=400) -> list[tuple]:
    """400: not what the schema allows; 422: allowed by the schema, refused by a rule on the data."""
    assert response.status_code == status, response.json()
    return [(e["index"], e["field"], e["message"]) for e in response.json()["errors"]]


def iso(moment) -> str:
    return timezone.localtime(moment).isoformat()


# --- modified from the future ----------------------------------------------------------------------
def test_a_future_modified_is_a_422_naming_the_field(api):
    """Well formed (the schema allows any time), refused by the rule: a 422, not a 400."""
    response = api.post(
        REFUNDS, {"items": [refund(1), refund(2, modified="2099-01-01T00:00:00+08:00")]}, format="json"
    )
    [(index, field, message)] = errors(response, 422)
    assert (index, field) == (1, "modified")
    assert "不能晚于当前时间" in message and "2099-01-01 00:00:00" in message
    assert not RawRefund.objects.exists()  # all or nothing
    response = api.post(ORDERS, {"items": [order(1, modified="2099-01-01T00:00:00+08:00")]}, format="json")
    assert [(i, f) for i, f, _ in errors(response, 422)] == [(0, "modified")]
    assert not Order.objects.exists()


def test_a_little_ahead_is_a_clock_difference_within_the_tolerance(api, settings):
    ahead = iso(timezone.now() + timedelta(seconds=120))
    response = api.post(REFUNDS, {"items": [refund(1, modified=ahead)]}, format="json")
    assert response.status_code == 200, response.json()
    response = api.post(ORDERS, {"items": [order(1, modified=ahead)]}, format="json")
    assert response.status_code == 200, response.json()
    settings.PLATFORM_CLOCK_TOLERANCE_SECONDS = 30
    response = api.post(REFUNDS, {"items": [refund(2, modified=ahead)]}, format="json")
    [(_, field, message)] = errors(response, 422)
    assert field == "modified" and "允许 30 秒误差" in message


def test_the_far_end_of_the_calendar_is_refused_not_500(api):
    response = api.post(REFUNDS, {"items": [refund(1, modified="9999-12-31T23:59:59+00:00")]}, format="json")
    assert [(i, f) for i, f, _ in errors(response, 422)] == [(0, "modified")]


def test_a_future_modified_can_no_longer_freeze_a_slip(api):
    api.post(REFUNDS, {"items": [refund(1)]}, format="json")
    api.post(
        REFUNDS,
        {"items": [refund(1, modified="2099-01-01T00:00:00+08:00", platform_status=1)]},
        format="json",
    )
    # JD's real, later change still goes through.
    now = iso(timezone.now())
    body = api.post(REFUNDS, {"items": [refund(1, platform_status=5, modified=now)]}, format="json").json()
    assert body["results"][0]["result"] == "updated"
    assert RawRefund.objects.get().platform_status == 5


# --- platform_status_code ------------------------------------------------------------------------
def test_an_omitted_platform_status_code_keeps_the_stored_one(api):
    api.post(REFUNDS, {"items": [refund(1, platform_status_code="10")]}, format="json")
    assert RawRefund.objects.get().platform_status_code == "10"
    newer = refund(1, reason="尺码不合适", modified="2026-11-28T11:00:00+08:00")
    body = api.post(REFUNDS, {"items": [newer]}, format="json").json()
    assert body["results"][0]["result"] == "updated"
    slip = RawRefund.objects.get()
    assert (slip.reason, slip.platform_status_code) == ("尺码不合适", "10")
    # Pushed again unchanged and still without the code: nothing to change.
    body = api.post(REFUNDS, {"items": [newer]}, format="json").json()
    assert body["results"][0]["result"] == "unchanged"


def test_an_explicit_platform_status_code_changes_it_even_to_blank(api):
    api.post(REFUNDS, {"items": [refund(1, platform_status_code="10")]}, format="json")
    api.post(
        REFUNDS,
        {"items": [refund(1, platform_status_code="12", modified="2026-11-28T11:00:00+08:00")]},
        format="json",
    )
    assert RawRefund.objects.get().platform_status_code == "12"
    api.post(
        REFUNDS,
        {"items": [refund(1, platform_status_code="", modified="2026-11-28T12:00:00+08:00")]},
        format="json",
    )
    assert RawRefund.objects.get().platform_status_code == ""


def test_a_new_slip_without_a_code_is_stored_blank(api):
    assert api.post(REFUNDS, {"items": [refund(1)]}, format="json").status_code == 200
    assert RawRefund.objects.get().platform_status_code == ""


# --- ids with whitespace -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["8000000001 ", " 8000000001", "8000 000001", "8000000001\n", "8000000001\t", "8000000001\u3000"]
)
def test_a_refund_no_with_whitespace_is_refused_not_stripped(api, bad):
    response = api.post(REFUNDS, {"items": [refund(1, refund_no=bad)]}, format="json")
    [(index, field, message)] = errors(response)
    assert (index, field) == (0, "refund_no") and "空白" in message
    assert not RawRefund.objects.exists()


def test_every_id_in_a_push_is_checked(api):
    items = [refund(1, tid="3000000001 "), refund(2, oid="3000000002-1\n"), refund(3, oid="")]
    assert [(i, f) for i, f, _ in errors(api.post(REFUNDS, {"items": items}, format="json"))] == [
        (0, "tid"),
        (1, "oid"),
    ]
    bad_order = order(1, tid="3 1")
    bad_line = order(2)
    bad_line["lines"][0]["oid"] = "3000000002-1 "
    bad_promotion = order(
        3, promotions=[{"promotion_no": "P 1", "discount": "5.00", "oids": ["3000000003-1\r"]}]
    )
    response = api.post(ORDERS, {"items": [bad_order, bad_line, bad_promotion]}, format="json")
    assert {(i, f) for i, f, _ in errors(response)} == {
        (0, "tid"),
        (1, "lines.0.oid"),
        (2, "promotions.0.promotion_no"),
        (2, "promotions.0.oids.0"),
    }
    assert not Order.objects.exists()
    # Names keep their spaces: only ids are held to it.
    assert api.post(ORDERS, {"items": [order(4)]}, format="json").status_code == 200
    assert Order.objects.get().lines.get().goods_name == "跑步鞋 42码"


def test_a_push_cannot_turn_a_slip_into_another_jd_object(api):
    """A slip is one JD object for good (its writeback goes there): a push naming the other object
    for a stored slip is refused whole, with the field and both objects named, and nothing stored."""
    assert api.post(REFUNDS, {"items": [refund(1)]}, format="json").status_code == 200
    moved = refund(1, platform_object="service_order", modified="2026-11-28T11:00:00+08:00")
    response = api.post(REFUNDS, {"items": [refund(2), moved]}, format="json")
    [(index, field, message)] = errors(response, 422)
    assert (index, field) == (1, "platform_object")
    assert "已是退款申请单" in message and "服务单" in message
    assert list(RawRefund.objects.values_list("refund_no", "platform_object")) == [
        (refund(1)["refund_no"], "refund_apply")
    ]
