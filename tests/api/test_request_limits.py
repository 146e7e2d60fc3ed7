"""What the API does with requests at and past its limits, and with malformed ones: the documented
5 MB body goes through, more is a 413, deep nesting and broken JSON are 400s that say what is
wrong, a path without its final slash is served; never a 500 or Django's debug page, DEBUG on or off."""

import io
import json

import pytest
from django.conf import settings as django_settings

from api.errors import PayloadTooLarge
from api.parsers import BadBody, SafeJSONParser
from orders.models import OrderStatus
from refunds.models import PlatformStatus, RawRefund, RefundType
from returns.services import return_slip_create
from tests.factories import OrderFactory, OrderLineFactory, RawRefundFactory

pytestmark = pytest.mark.django_db

REFUNDS = "/api/v1/raw-refunds/"
MB = 1024 * 1024


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def client(api):
    """The key's client, answering a crash with its response (500) instead of raising it."""
    api.raise_request_exception = False
    return api


def refund(n, **extra):
    return {
        "refund_no": f"8{n:09d}",
        "tid": f"3{n:09d}",
        "oid": f"3{n:09d}-1",
        "refund_type": 1,
        "platform_status": 2,
        "refund_amount": "12.30",
        "num": 1,
        "modified": "2026-11-28T10:00:00+08:00",
        **extra,
    }


def push_of_size(target: int) -> bytes:
    """500 items whose JSON (Chinese written as \\u escapes, 6 bytes a character) is `target` bytes."""
    items = [refund(n, description="", reason="") for n in range(500)]
    base = len(json.dumps({"items": items}).encode())
    per_item, rest = divmod(target - base, 500)
    # A character is 6 bytes; the remainder goes into reason, one ASCII byte a character.
    chars, pad = divmod(per_item, 6)
    assert chars <= 2000, "the description holds at most 2000 characters"
    for position, item in enumerate(items):
        item["description"] = "退" * chars
        item["reason"] = "x" * (pad + (rest if position == 0 else 0))
    body = json.dumps({"items": items}).encode()
    assert len(body) == target
    return body


def error_shape(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and body["message"]
    return body


# --- body size -----------------------------------------------------------------------------------
def test_the_documented_limit_is_5_mb():
    assert django_settings.API_MAX_BODY_BYTES == 5 * MB
    # Django reads the body before the API can: its own cap must not be lower.
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= django_settings.API_MAX_BODY_BYTES


def test_a_4_9_mb_push_of_500_items_is_accepted(client, shop_key, debug):
    body = push_of_size(int(4.9 * MB))
    response = client.post(REFUNDS, body, content_type="application/json")
    assert response.status_code == 200, response.content[:500]
    assert response.json()["created"] == 500
    slip = RawRefund.objects.get(shop=shop_key[0], refund_no="8000000499")
    assert slip.description == "退" * len(slip.description) and len(slip.description) > 1500


def test_a_5_1_mb_push_is_413_in_the_api_shape(client, debug):
    response = client.post(REFUNDS, push_of_size(int(5.1 * MB)), content_type="application/json")
    assert response.status_code == 413
    body = error_shape(response)
    assert body["code"] == "payload_too_large" and f"超过上限 {5 * MB} 字节" in body["message"]
    assert not RawRefund.objects.exists()


def test_django_refusing_the_body_first_is_a_413_too(client, settings):
    # A deployment that lowered DATA_UPLOAD_MAX_MEMORY_SIZE below the API's own limit.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(REFUNDS, push_of_size(600 * 1024), content_type="application/json")
    assert response.status_code == 413 and error_shape(response)["code"] == "payload_too_large"


def test_the_parser_caps_a_body_whose_size_was_not_announced(settings):
    # Unit: a chunked body has no Content-Length for ApiView.initial to refuse early.
    settings.API_MAX_BODY_BYTES = 100
    with pytest.raises(PayloadTooLarge, match="超过上限 100 字节"):
        SafeJSONParser().parse(io.BytesIO(b'{"items": [' + b"1," * 100 + b"1]}"), "application/json", {})


# --- nesting -------------------------------------------------------------------------------------
def test_100000_deep_nesting_is_a_400_naming_the_depth(client, debug):
    for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        response = client.post(REFUNDS, deep, content_type="application/json")
        assert response.status_code == 400
        body = error_shape(response)
        assert "嵌套超过 32 层" in body["message"], body


def test_depth_limit_is_exact_and_brackets_inside_strings_do_not_count(client):
    at_limit = "[" * 32 + "]" * 32
    over = "[" * 33 + "]" * 33
    # At the limit it is parsed, then refused for not being an object.
    ok = client.post(REFUNDS, at_limit, content_type="application/json")
    assert ok.status_code == 400 and "嵌套" not in ok.json()["message"]
    assert "嵌套超过 32 层" in client.post(REFUNDS, over, content_type="application/json").json()["message"]
    brackets = refund(1, description="[[[[" * 100 + '{"' * 50 + '\\"]]]')
    response = client.post(REFUNDS, {"items": [brackets]}, format="json")
    assert response.status_code == 200, response.json()
    assert RawRefund.objects.get().description == brackets["description"]


# --- trailing slash ------------------------------------------------------------------------------
def test_a_post_without_the_trailing_slash_is_served(client, shop_key, debug):
    response = client.post(REFUNDS.rstrip("/"), {"items": [refund(1)]}, format="json")
    assert response.status_code == 200, response.content[:500]
    assert response.json()["created"] == 1
    slip = RawRefund.objects.get(shop=shop_key[0])
    read = client.get(f"{REFUNDS}{slip.refund_no}")
    assert read.status_code == 200 and read.json()["refund_no"] == "8000000001"
    writeback = client.post(f"{REFUNDS}writeback", {"refund_nos": ["nope"]}, format="json")
    assert writeback.status_code == 200 and writeback.json()["results"][0]["message"] == "退款单不存在"


def test_an_unknown_path_without_slash_is_the_json_404(client, debug):
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(client, method)("/api/v1/no-such-thing", {}, format="json")
        assert response.status_code == 404, method
        assert error_shape(response)["code"] == "not_found"


def test_the_no_slash_path_still_needs_a_key(debug):
    from rest_framework.test import APIClient

    response = APIClient().post(REFUNDS.rstrip("/"), {"items": [refund(1)]}, format="json")
    assert response.status_code == 401 and error_shape(response)["code"] == "not_authenticated"


# --- malformed bodies ----------------------------------------------------------------------------
MALFORMED = {
    "bad utf-8": (b'{"items": ["\xff\xfe"]}', "application/json"),
    "truncated": (b'{"items": [', "application/json"),
    "empty": (b"", "application/json"),
    "only spaces": (b"   ", "application/json"),
    "not json": (b"items=1", "application/json"),
    "form content type": (b"items=1", "application/x-www-form-urlencoded"),
    "text content type": (b'{"items": []}', "text/plain"),
    "xml": (b"<items/>", "application/xml"),
    "array": (b"[]", "application/json"),
    "string": (b'"items"', "application/json"),
    "number": (b"1", "application/json"),
    "null": (b"null", "application/json"),
    "true": (b"true", "application/json"),
    "NaN": (b'{"items": NaN}', "application/json"),
    "Infinity": (b'{"num": -Infinity}', "application/json"),
    "huge float": (b'{"num": 1e999}', "application/json"),
    "huge int": (b'{"num": ' + b"9" * 5000 + b"}", "application/json"),
    "lone surrogate value": (b'{"refund_no": "\\ud800", "tid": "x"}', "application/json"),
    "lone surrogate key": (b'{"\\udfff": 1}', "application/json"),
    "lone surrogate in lines": (b'{"lines": {"\\ud83d": 1}}', "application/json"),
    "nul": (b'{"refund_no": "a\\u0000b", "reason": "\\u0000"}', "application/json"),
    "duplicate keys": (b'{"items": 1, "items": []}', "application/json"),
    "utf-8 bom": ('\ufeff{"items": []}'.encode(), "application/json"),
    "latin-1 charset": ('{"items": ["é"]}'.encode("latin-1"), "application/json; charset=latin-1"),
    "utf-16 charset, utf-8 body": (b'{"items": []}', "application/json; charset=utf-16"),
    "not a text codec": (b'{"items": []}', "application/json; charset=base64"),
    "unknown charset": (b'{"items": []}', "application/json; charset=klingon"),
    "deep in a field": (b'{"lines": ' + b"[" * 40 + b"]" * 40 + b"}", "application/json"),
}


@pytest.fixture
def write_urls(shop_key):
    """Every POST under /api/v1/, with the objects its detail routes need."""
    shop = shop_key[0]
    order = OrderFactory(shop=shop, status=OrderStatus.COMPLETED)
    line = OrderLineFactory(order=order)
    raw = RawRefundFactory(
        order_line=line, refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RECEIPT
    )
    return_slip = return_slip_create(raw_refund=raw, by="测试", approve=True)
    from refund_slips.services import refund_slip_create

    other_line = OrderLineFactory(order=order)
    refund_slip = refund_slip_create(order_id=order.pk, lines={other_line.pk: 1}, by="测试", reason="")
    return [
        "/api/v1/raw-refunds/",
        "/api/v1/raw-refunds/writeback/",
        "/api/v1/orders/",
        f"/api/v1/orders/{order.tid}/refund-quote/",
        "/api/v1/return-slips/",
        f"/api/v1/return-slips/{return_slip.number}/inbounds/",
        "/api/v1/refund-slips/",
        f"/api/v1/refund-slips/{refund_slip.number}/reject/",
        f"/api/v1/refund-slips/{refund_slip.number}/mark-refunded/",
    ]


# 409: an empty body is {} (every field at its default), which mark-refunded refuses on state; 422:
# well-formed JSON the schema allows, refused by a rule (a NUL, which PostgreSQL cannot store).
CLIENT_ERRORS = ("validation_error", "unsupported_media_type", "conflict", "rule_violation")


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_bodies_are_4xx_json_on_every_write_endpoint(client, write_urls, debug, name):
    body, content_type = MALFORMED[name]
    for url in write_urls:
        response = client.post(url, body, content_type=content_type)
        assert 400 <= response.status_code < 500, (url, response.status_code, response.content[:300])
        assert error_shape(response)["code"] in CLIENT_ERRORS, url
        # The answer is valid UTF-8 JSON: nothing the caller sent (a lone surrogate) breaks it.
        json.loads(response.content.decode("utf-8"))


def test_malformed_bodies_say_what_is_wrong(client):
    def message(body, content_type="application/json"):
        response = client.post(REFUNDS, body, content_type=content_type)
        assert response.status_code == 400
        answer = response.json()
        return answer["message"] + " " + " ".join(e["message"] for e in answer["errors"])

    assert "UTF-8" in message(b'{"items": ["\xff"]}')
    assert "第 1 行第 12 列" in message(b'{"items": [')
    assert "NaN 不是有效的 JSON 数值" in message(b'{"items": NaN}')
    assert "超出范围" in message(b'{"items": [1e999]}')
    assert "位数过多" in message(b'{"items": [' + b"9" * 5000 + b"]}")
    assert "不支持的字符集" in message(b"{}", "application/json; charset=base64")
    response = client.post(REFUNDS, b'{"items": [{"refund_no": "\\ud800"}]}', content_type="application/json")
    assert response.json()["errors"] == [
        {"index": None, "field": "items.0.refund_no", "message": response.json()["message"]}
    ]
    assert "代理项" in response.json()["message"]
    # A UTF-8 byte-order mark is not an error: the body is read as if it were not there.
    bom = client.post(REFUNDS, "\ufeff" + json.dumps({"items": [refund(1)]}), content_type="application/json")
    assert bom.status_code == 200, bom.json()


def test_bad_body_is_refused_before_anything_is_written(client):
    good_then_bad = json.dumps({"items": [refund(1)]})[:-1] + ', "x": NaN}'
    response = client.post(REFUNDS, good_then_bad, content_type="application/json")
    assert response.status_code == 400 and not RawRefund.objects.exists()


def test_a_false_content_length_is_not_a_500(client, debug):
    for length in ("abc", "-5", "99999999999999999999"):
        response = client.post(REFUNDS, b"{}", content_type="application/json", CONTENT_LENGTH=length)
        assert 400 <= response.status_code < 500, (length, response.status_code)
        error_shape(response)


def test_bad_body_unit():
    parser = SafeJSONParser()
    with pytest.raises(BadBody, match="嵌套超过 32 层"):
        parser.parse(io.BytesIO(b"[" * 33 + b"]" * 33), "application/json", {})
    assert parser.parse(io.BytesIO(b'{"a": "[[[[", "b": [1]}'), "application/json", {}) == {
        "a": "[[[[",
        "b": [1],
    }
