"""What the schema says is what the API does: names a generator can use, list filters that take
both spellings, unknown query parameters refused, 400 versus 422, every error code documented, one
time zone, counts that add up, and the rate limit's headers."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from api.errors import CODES, ErrorCode
from api.models import WebhookSubscription
from api.throttling import WINDOW, quota
from api.webhooks import webhook_deliver_due
from orders.models import OrderStatus
from refund_slips.services import refund_slip_create
from refunds.models import RawRefund
from returns.services import return_slip_create
from sa_sync.writeback import writeback_job_run
from tests.conftest import seed_applications
from tests.factories import OrderFactory, OrderLineFactory, RawRefundFactory

from .conftest import client_for
from .test_webhooks import Receiver

REFUNDS = "/api/v1/raw-refunds/"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DOCS = Path(django_settings.BASE_DIR) / "docs" / "api.md"


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


# --- names for generators ---------------------------------------------------------------------------
def test_every_name_a_generator_uses_is_ascii(schema):
    assert schema["info"]["title"].isascii()
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert all(IDENTIFIER.match(i) for i in ids) and len(set(ids)) == len(ids), ids
    components = schema["components"]["schemas"]
    assert all(IDENTIFIER.match(name) for name in components), sorted(components)
    assert {"RawRefundEvent", "ReturnSlipEvent", "RefundSlipEvent"} <= set(components)
    assert set(schema["x-webhooks"]) == {
        "raw_refund.changed",
        "raw_refund.writeback",
        "return_slip.changed",
        "refund_slip.changed",
    }
    # A `title` (a model field's Chinese verbose name) becomes a class name in generators.
    text = json.dumps({k: v for k, v in schema.items() if k != "info"}, ensure_ascii=False)
    assert '"title"' not in text
    for name, component in components.items():
        if "enum" in component:
            names = component["x-enum-varnames"]
            assert len(names) == len(component["enum"]) and all(IDENTIFIER.match(n) for n in names), name
            assert not any(n.startswith("VALUE_") for n in names), name
    assert components["WritebackStatusEnum"]["x-enum-varnames"] == [
        "NOT_SENT",
        "SENDING",
        "SUCCEEDED",
        "FAILED",
        "UNKNOWN",
    ]
    assert components["RefundTypeEnum"]["x-enum-varnames"][:2] == ["REFUND", "RETURN"]
    # The Chinese labels stay, in the descriptions.
    assert "未回传" in components["WritebackStatusEnum"]["description"]


def test_query_enums_are_the_shared_components_and_bodies_refuse_unknown_fields(schema):
    parameters = {p["name"]: p for p in schema["paths"][REFUNDS]["get"]["parameters"]}
    assert parameters["writeback_status"]["schema"] == {"$ref": "#/components/schemas/WritebackStatusEnum"}
    assert parameters["refund_type"]["schema"] == {"$ref": "#/components/schemas/RefundTypeEnum"}
    assert (
        parameters["page_size"]["schema"]["minimum"] == 1
        and parameters["page_size"]["schema"]["maximum"] == 500
    )
    # A list filter: an array, the parameter repeated (explode, OpenAPI's default), commas said too.
    refund_no = parameters["refund_no"]
    assert refund_no["schema"]["type"] == "array" and refund_no.get("explode", True) is True
    assert "逗号" in refund_no["description"] and "重复" in refund_no["description"]
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            assert component["additionalProperties"] is False, name
    bulk = schema["components"]["schemas"]["RawRefundBulkInRequest"]["properties"]["items"]
    assert (bulk["minItems"], bulk["maxItems"]) == (1, 500)


def test_amounts_are_what_the_schema_pattern_says(api, schema):
    amount = schema["components"]["schemas"]["RawRefundInRequest"]["properties"]["refund_amount"]
    pattern = re.compile(amount["pattern"])
    base = {"refund_no": "8000000001", "tid": "3000000001", "refund_type": 1, "platform_status": 2}
    base["modified"] = "2026-11-28T10:00:00+08:00"
    for value in ("0", "12.3", "12.30", "9999999999.99", "-1.00", "1e3", " 1.00", "1.001", "", "١٢"):
        response = api.post(REFUNDS, {"items": [{**base, "refund_amount": value}]}, format="json")
        accepted = response.status_code == 200
        assert accepted == bool(pattern.fullmatch(value)), (value, response.json())


# --- errors ----------------------------------------------------------------------------------------
def test_every_error_code_is_in_the_schema_and_in_the_docs(schema):
    docs = DOCS.read_text()
    enum = schema["components"]["schemas"]["ErrorCodeEnum"]["enum"]
    assert enum == [code.value for code in ErrorCode]
    for status, code in CODES.items():
        assert f"`{code.value}`" in docs and f"{status}" in docs, code
    documented = {status for _, _, operation in operations(schema) for status in operation["responses"]}
    assert {str(status) for status in CODES if status != 405} <= documented
    approve = schema["paths"]["/api/v1/refund-slips/{number}/approve/"]["post"]["responses"]
    assert "403" in approve and "422" in approve and "409" in approve


@pytest.mark.django_db
def test_400_is_not_the_schema_and_422_is_a_rule_on_the_data(api):
    base = {"refund_no": "8000000001", "tid": "3000000001", "refund_type": 1, "platform_status": 2}
    base |= {"refund_amount": "1.00", "modified": "2026-11-28T10:00:00+08:00"}
    wrong_type = api.post(REFUNDS, {"items": [{**base, "num": "1"}]}, format="json")
    assert wrong_type.status_code == 400 and wrong_type.json()["code"] == "validation_error"
    future = api.post(REFUNDS, {"items": [{**base, "modified": "2099-01-01T00:00:00+08:00"}]}, format="json")
    assert future.status_code == 422 and future.json()["code"] == "rule_violation"
    assert future.json()["errors"][0]["field"] == "modified"
    # Both kinds in one request: 400, every problem listed.
    both = api.post(
        REFUNDS, {"items": [{**base, "num": "1", "modified": "2099-01-01T00:00:00+08:00"}]}, format="json"
    )
    assert both.status_code == 400 and {e["field"] for e in both.json()["errors"]} == {"num", "modified"}
    for field, value in (("refund_type", "1"), ("tid", 3000000001), ("refund_no", "8 1"), ("oid", True)):
        response = api.post(REFUNDS, {"items": [{**base, field: value}]}, format="json")
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == field, (field, value)
    assert not RawRefund.objects.exists()
    # A date-time by the schema that falls before year 1 in UTC (found by schemathesis): a rule too.
    early = api.get(REFUNDS, {"updated_after": "0001-01-01T00:00:00+12:24"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "updated_after"


# --- query parameters ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_list_filters_take_repeated_and_comma_values_and_refuse_the_rest(api, shop_key):
    shop = shop_key[0]
    slips = [RawRefundFactory(order_line=OrderLineFactory(order=OrderFactory(shop=shop))) for _ in range(3)]
    nos = [s.refund_no for s in slips]

    def listed(query):
        response = api.get(f"{REFUNDS}?{query}")
        assert response.status_code == 200, (query, response.json())
        return sorted(r["refund_no"] for r in response.json()["results"])

    assert listed(f"refund_no={nos[0]}&refund_no={nos[1]}") == sorted(nos[:2])  # was: the last one only
    assert listed(f"refund_no={nos[0]},{nos[1]}") == sorted(nos[:2])
    assert listed(f"refund_no={nos[0]},{nos[1]}&refund_no={nos[2]}") == sorted(nos)
    assert listed(f"tid={slips[0].tid}&tid={slips[2].tid}") == sorted([nos[0], nos[2]])
    for query, field in (
        ("buyer_nick=x", "buyer_nick"),  # was: ignored, and every slip came back
        (f"refund_no={nos[0]},", "refund_no"),
        ("refund_type=1&refund_type=2", "refund_type"),
        ("refund_type=", "refund_type"),
        ("page_size=10&page_size=20", "page_size"),
        ("cursor=", "cursor"),
    ):
        response = api.get(f"{REFUNDS}?{query}")
        assert response.status_code == 400, query
        assert [e["field"] for e in response.json()["errors"]] == [field], query
    unknown = api.get(f"{REFUNDS}?buyer_nick=x").json()["errors"][0]["message"]
    assert "未知的查询参数" in unknown and "refund_no" in unknown
    # A detail or a verb documents no parameter at all.
    assert api.get(f"{REFUNDS}{nos[0]}/?fields=tid").status_code == 400
    assert (
        api.post(f"{REFUNDS}writeback/?dry_run=1", {"refund_nos": [nos[0]]}, format="json").status_code == 400
    )


@pytest.mark.django_db
def test_objects_are_addressed_by_business_keys_only(api, shop_key):
    shop = shop_key[0]
    raw = RawRefundFactory(
        order_line=OrderLineFactory(order=OrderFactory(shop=shop, status=OrderStatus.COMPLETED))
    )
    raw.refund_type, raw.platform_status = 2, 4
    raw.save()
    return_slip = return_slip_create(raw_refund=raw, by="测试")
    line = OrderLineFactory(order=raw.order)
    refund_slip = refund_slip_create(order_id=raw.order_id, lines={line.pk: 1}, by="测试")
    assert api.get(f"{REFUNDS}{raw.refund_no}/").json()["tid"] == raw.tid
    assert api.get(f"/api/v1/return-slips/{return_slip.number}/").json()["refund_no"] == raw.refund_no
    assert api.get(f"/api/v1/refund-slips/{refund_slip.number}/").json()["tid"] == raw.tid
    # The back office's row ids are not addresses (v1.0 used them: see docs/api-changelog.md).
    for url in (
        f"{REFUNDS}{raw.pk}/",
        f"/api/v1/return-slips/{return_slip.pk}/",
        f"/api/v1/refund-slips/{refund_slip.pk}/",
        f"/api/v1/return-slips/TH0{return_slip.pk:08d}/",  # not the number's own spelling
    ):
        assert api.get(url).status_code == 404, url
    body = api.get(f"/api/v1/refund-slips/{refund_slip.number}/").json()
    assert not {"id", "return_slip_id"} & set(body)


# --- answers --------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_refused_quote_says_what_was_asked(api, shop_key):
    order = OrderFactory(shop=shop_key[0], status=OrderStatus.COMPLETED)
    OrderLineFactory(order=order, num=1)
    refund_slip_create(order_id=order.pk, whole_order=True, by="测试")
    body = api.post(f"/api/v1/orders/{order.tid}/refund-quote/", {"whole_order": True}, format="json").json()
    assert body["refusal"] and body["whole_order"] is True


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_slips_are_all_refused_counts_them_refused_not_failed(sandbox, jd, settings):
    from api.keys import api_key_create

    settings.WRITEBACK_BACKGROUND_OVER = 2
    client = client_for(api_key_create(shop=jd, name="wms", by="测试")[1])
    slips = [
        RawRefundFactory(order_line=OrderLineFactory(order=OrderFactory(shop=jd, status=OrderStatus.SHIPPED)))
        for _ in range(3)
    ]
    seed_applications(sandbox, slips)
    accepted = client.post(
        f"{REFUNDS}writeback/", {"refund_nos": [s.refund_no for s in slips]}, format="json"
    )
    assert accepted.status_code == 202
    job = accepted.json()["job"]
    assert (job["total"], job["pending"], job["done"]) == (3, 3, 0)
    writeback_job_run(job["id"])
    job = client.get(job["url"]).json()
    assert (job["succeeded"], job["refused"], job["failed"], job["unknown"], job["pending"]) == (
        0,
        3,
        0,
        0,
        0,
    )
    assert job["refused_by_reason"] == [{"reason": "订单已发货，无法回传取消发货成功", "count": 3}]
    assert job["succeeded"] + job["refused"] + job["failed"] + job["unknown"] + job["pending"] == job["total"]


@pytest.mark.django_db
def test_webhooks_and_rest_answers_share_one_time_zone(api, shop_key, local_receivers):
    shop = shop_key[0]
    receiver = Receiver()
    try:
        WebhookSubscription.objects.create(
            shop=shop, name="bi", url=receiver.url, events=["raw_refund.changed"], secret="s"
        )
        item = {"refund_no": "8000000001", "tid": "3000000001", "refund_type": 1, "platform_status": 2}
        item |= {"refund_amount": "1.00", "modified": "2026-11-28T02:00:00Z"}
        assert api.post(REFUNDS, {"items": [item]}, format="json").status_code == 200
        assert webhook_deliver_due() == 1
        document = json.loads(receiver.requests[0]["body"])
    finally:
        receiver.close()
    rest = api.get(f"{REFUNDS}8000000001/").json()
    for moment in (
        document["created_at"],
        document["occurred_at"],
        document["data"]["modified"],
        rest["updated_at"],
    ):
        assert moment.endswith("+08:00"), moment
    assert document["data"]["modified"] == rest["modified"] == "2026-11-28T10:00:00+08:00"
    assert "id" not in document["data"] and document["data"]["tid"] == "3000000001"


# --- rate limit -----------------------------------------------------------------------------------
def test_the_sliding_window_arithmetic():
    # Half-way into a minute, 600 accepted in the one before: they weigh half.
    q = quota(600, previous=600, current=1, elapsed=30, refused=False)
    assert (q.remaining, q.reset, q.retry_after) == (299, 90, None)
    # Full: one more request is possible once the previous minute's share has faded enough.
    q = quota(600, previous=600, current=300, elapsed=30, refused=True)
    assert q.remaining == 0 and q.retry_after == 1
    # This minute alone is full: wait for the next, and for its weight to fade below the limit.
    q = quota(3, previous=0, current=3, elapsed=10, refused=True)
    assert q.retry_after == 50 + 20 and q.reset == 50 + WINDOW
    assert quota(10, previous=0, current=0, elapsed=5, refused=False).reset == 0


@pytest.mark.django_db
def test_every_answer_carries_the_quota_and_a_429_says_when_once(api, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    seen = []
    for _ in range(3):
        response = api.get(REFUNDS)
        assert response.status_code == 200 and response["RateLimit-Limit"] == "3"
        seen.append(int(response["RateLimit-Remaining"]))
        assert int(response["RateLimit-Reset"]) > 0 and response["RateLimit-Policy"] == "3;w=60"
    assert seen == [2, 1, 0]
    refused = api.get(REFUNDS)
    assert refused.status_code == 429 and refused["RateLimit-Remaining"] == "0"
    wait = int(refused["Retry-After"])
    message = refused.json()["message"]
    assert message == f"请求过于频繁：每个API密钥每分钟最多 3 次，请 {wait} 秒后重试"
    assert message.count("秒") == 1 and "预计" not in message
    # A refused request does not use the quota: the next one is refused for the same reason, not longer.
    assert int(api.get(REFUNDS)["Retry-After"]) <= wait
    # Errors carry the headers too; no key, no quota.
    from rest_framework.test import APIClient

    assert "RateLimit-Limit" not in APIClient().get(REFUNDS)
