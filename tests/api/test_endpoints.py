"""Writeback, return slips and inbound, auto-writeback runs, and shop isolation on every endpoint.
The writebacks go to the SA sandbox over real HTTP, through the same service as the right-click."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.keys import api_key_create
from api.models import ApiWritebackJob
from core.audit import events_for
from orders.models import OrderStatus
from refunds.models import ALREADY_DONE, PlatformStatus, RawRefund, RefundType, WritebackStatus
from returns.models import ReturnSlip, ReturnStatus
from sa_sync.models import AutoWritebackRun, WritebackAttempt, WritebackJob
from tests.conftest import seed_applications
from tests.factories import OrderFactory, OrderLineFactory, RawRefundFactory

from .conftest import client_for

WRITEBACK = "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"


def slip_for(shop, order_status=OrderStatus.AWAITING_CS_REVIEW, **kwargs):
    line = OrderLineFactory(order=OrderFactory(shop=shop, status=order_status))
    return RawRefundFactory(order_line=line, **kwargs)


@pytest.fixture
def jd_api(jd):
    key, raw = api_key_create(shop=jd, name="wms", by="测试")
    return client_for(raw)


@pytest.mark.django_db(transaction=True)
def test_writeback_same_verb_and_messages_as_the_right_click(sandbox, jd, jd_api):
    ok = slip_for(jd)
    shipped = slip_for(jd, order_status=OrderStatus.SHIPPED)
    done = slip_for(jd)
    RawRefund.objects.filter(pk=done.pk).update(writeback_status=WritebackStatus.SUCCEEDED)
    seed_applications(sandbox, [ok, shipped, done])
    response = jd_api.post(
        "/api/v1/raw-refunds/writeback/",
        {"refund_nos": [ok.refund_no, shipped.refund_no, done.refund_no, "404404"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    results = {r["refund_no"]: r for r in response.json()["results"]}
    assert results[ok.refund_no]["outcome"] == "succeeded" and results[ok.refund_no]["message"] == "操作成功"
    assert results[shipped.refund_no]["message"] == "订单已发货，无法回传取消发货成功"
    assert results[done.refund_no]["message"] == ALREADY_DONE
    assert results["404404"] == {
        "refund_no": "404404",
        "outcome": "refused",
        "outcome_label": "未发送（不满足条件）",
        "message": "退款单不存在",
    }
    # The counts add up to what was asked, refusals by reason.
    body = response.json()
    assert (body["total"], body["succeeded"], body["refused"], body["failed"], body["unknown"]) == (
        4,
        1,
        3,
        0,
        0,
    )
    assert sorted((r["reason"], r["count"]) for r in body["refused_by_reason"]) == sorted(
        [("订单已发货，无法回传取消发货成功", 1), (ALREADY_DONE, 1), ("退款单不存在", 1)]
    )
    assert len(sandbox.calls(method=WRITEBACK)) == 1
    attempt = WritebackAttempt.objects.get(slip=ok)
    assert (attempt.trigger, attempt.actor_name) == ("api", "API：wms")
    assert any(e.actor_name == "API：wms" for e in events_for(ok))


@pytest.mark.django_db(transaction=True)
def test_writeback_past_the_threshold_is_a_job_to_poll(sandbox, jd, jd_api, other_api, settings):
    settings.WRITEBACK_BACKGROUND_OVER = 2
    slips = [slip_for(jd) for _ in range(3)]
    seed_applications(sandbox, slips)
    response = jd_api.post(
        "/api/v1/raw-refunds/writeback/", {"refund_nos": [s.refund_no for s in slips]}, format="json"
    )
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["total"] == 3 and job["status"] == "queued" and response["Location"] == job["url"]
    assert WritebackJob.objects.get(pk=job["id"]).created_by_name == "API：wms"
    # The worker runs it (here in-process, as the task would).
    from sa_sync.writeback import writeback_job_run

    writeback_job_run(job["id"])
    polled = jd_api.get(job["url"]).json()
    assert polled["status"] == "done" and polled["succeeded"] == 3
    assert (polled["total"], polled["done"], polled["pending"], polled["refused"], polled["failed"]) == (
        3,
        3,
        0,
        0,
        0,
    )
    assert {r["refund_no"] for r in polled["results"]} == {s.refund_no for s in slips}
    assert WritebackAttempt.objects.filter(job_id=job["id"], actor_name="API：wms").count() == 3
    assert other_api.get(job["url"]).status_code == 404
    assert ApiWritebackJob.objects.get(job_id=job["id"]).shop == jd


@pytest.mark.django_db(transaction=True)
def test_return_slip_create_inbound_audit_writes_back(sandbox, jd, jd_api):
    line = OrderLineFactory(order=OrderFactory(shop=jd, status=OrderStatus.COMPLETED), num=1)
    raw = RawRefundFactory(
        order_line=line, refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RECEIPT, num=1
    )
    seed_applications(sandbox, [raw])
    response = jd_api.post(
        "/api/v1/return-slips/",
        {"refund_no": raw.refund_no, "logistics_no": "SF1", "approve": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    slip = response.json()
    assert slip["status"] == ReturnStatus.AWAITING_INBOUND and slip["refund_no"] == raw.refund_no
    assert slip["number"].startswith("TH") and "id" not in slip
    made = ReturnSlip.objects.get(raw_refund=raw)
    assert made.number == slip["number"] and made.created_by_name == "API：wms"
    # Recorded first, then audited: 退货入仓 goes to JD once.
    url = f"/api/v1/return-slips/{slip['number']}/inbounds/"
    recorded = jd_api.post(url, {"lines": [{"oid": line.oid, "good_quantity": 1}]}, format="json").json()
    assert recorded["audited"] is False and recorded["return_slip"]["lines"][0]["good_quantity"] == 1
    audited = jd_api.post(
        url, {"lines": [{"oid": line.oid, "good_quantity": 1}], "audit": True}, format="json"
    )
    assert audited.status_code == 200, audited.json()
    body = audited.json()
    assert body["completed"] is True and body["return_slip"]["status"] == ReturnStatus.INBOUND_DONE
    assert [w["outcome"] for w in body["writebacks"]] == ["succeeded"]
    assert RawRefund.objects.get(pk=raw.pk).writeback_status == WritebackStatus.SUCCEEDED
    # Audited twice: refused on its state, in words, with 409.
    again = jd_api.post(url, {"lines": [{"oid": line.oid, "good_quantity": 1}], "audit": True}, format="json")
    assert again.status_code == 409 and "只有“待入库”" in again.json()["message"]
    assert any(e.actor_name == "API：wms" and e.action == "入库审核" for e in events_for(made))


@pytest.mark.django_db
def test_return_slip_by_hand_and_its_errors(api, shop_key):
    shop = shop_key[0]
    order = OrderFactory(shop=shop, status=OrderStatus.COMPLETED)
    line = OrderLineFactory(order=order, num=2)
    bad = api.post(
        "/api/v1/return-slips/", {"tid": order.tid, "lines": [{"oid": "nope", "quantity": 1}]}, format="json"
    )
    # Well formed, but the order has no such line: a rule on the data (422), naming the field.
    assert bad.status_code == 422 and bad.json()["code"] == "rule_violation"
    assert bad.json()["errors"][0]["field"] == "lines.0.oid"
    over = api.post(
        "/api/v1/return-slips/",
        {"tid": order.tid, "lines": [{"oid": line.oid, "quantity": 3}]},
        format="json",
    )
    assert over.status_code == 409 and "超过可退数量" in over.json()["message"]
    both = api.post("/api/v1/return-slips/", {"tid": order.tid, "refund_no": "1"}, format="json")
    assert both.status_code == 422
    wrong_type = api.post(
        "/api/v1/return-slips/",
        {"tid": order.tid, "lines": [{"oid": line.oid, "quantity": "2"}]},
        format="json",
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["errors"][0]["field"] == "lines.0.quantity"
    made = api.post(
        "/api/v1/return-slips/",
        {"tid": order.tid, "lines": [{"oid": line.oid, "quantity": 2}]},
        format="json",
    )
    assert made.status_code == 201 and made.json()["status"] == ReturnStatus.PENDING_REVIEW
    number = made.json()["number"]
    listed = api.get("/api/v1/return-slips/", {"tid": order.tid}).json()["results"]
    assert [s["number"] for s in listed] == [number]
    assert [s["number"] for s in api.get("/api/v1/return-slips/", {"number": number}).json()["results"]] == [
        number
    ]
    assert api.get(f"/api/v1/return-slips/{number}/").json()["lines"][0]["oid"] == line.oid
    # Not approved yet: no inbound.
    refused = api.post(
        f"/api/v1/return-slips/{number}/inbounds/",
        {"lines": [{"oid": line.oid, "good_quantity": 1}]},
        format="json",
    )
    assert refused.status_code == 409 and "待入库" in refused.json()["message"]


@pytest.mark.django_db
def test_auto_writeback_runs_are_the_shops_own(api, shop_key, other_key):
    now = timezone.now()
    mine = AutoWritebackRun.objects.create(
        shop=shop_key[0],
        started_at=now,
        matched=3,
        sent=2,
        succeeded=2,
        skipped={"订单已发货": 1},
        failures=[{"slip_id": 77, "refund_no": "8000000077", "message": "京东返回：系统繁忙"}],
    )
    AutoWritebackRun.objects.create(shop=other_key[0], started_at=now - timedelta(minutes=1))
    runs = api.get("/api/v1/auto-writeback/runs/").json()["results"]
    assert [r["id"] for r in runs] == [mine.pk] and runs[0]["succeeded"] == 2
    run = api.get(f"/api/v1/auto-writeback/runs/{mine.pk}/").json()
    assert run["matched"] == 3 and run["skipped"] == {"订单已发货": 1}
    # Named by refund_no: the run's own record of row ids stays in the back office.
    assert run["failures"] == [{"refund_no": "8000000077", "message": "京东返回：系统繁忙"}]


@pytest.mark.django_db
def test_another_shops_objects_are_404_on_every_endpoint(api, other_key):
    other_shop = other_key[0]
    slip = slip_for(
        other_shop, refund_type=RefundType.RETURN, platform_status=PlatformStatus.AWAITING_RECEIPT
    )
    order = slip.order
    from returns.services import return_slip_create

    return_slip = return_slip_create(raw_refund=slip, by="测试", approve=True)
    run = AutoWritebackRun.objects.create(shop=other_shop, started_at=timezone.now())
    job = WritebackJob.objects.create(slip_ids=[slip.pk], total=1)
    ApiWritebackJob.objects.create(job=job, shop=other_shop)
    for url in (
        f"/api/v1/raw-refunds/{slip.refund_no}/",
        f"/api/v1/orders/{order.tid}/",
        f"/api/v1/return-slips/{return_slip.number}/",
        f"/api/v1/auto-writeback/runs/{run.pk}/",
        f"/api/v1/writeback-jobs/{job.pk}/",
    ):
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    inbound = api.post(
        f"/api/v1/return-slips/{return_slip.number}/inbounds/",
        {"lines": [{"oid": slip.oid, "good_quantity": 1}]},
        format="json",
    )
    assert inbound.status_code == 404
    for url in (
        "/api/v1/raw-refunds/",
        "/api/v1/orders/",
        "/api/v1/return-slips/",
        "/api/v1/auto-writeback/runs/",
    ):
        assert api.get(url).json()["results"] == [], url
    # Writeback of another shop's slip: "does not exist", and nothing is sent.
    result = api.post(
        "/api/v1/raw-refunds/writeback/", {"refund_nos": [slip.refund_no]}, format="json"
    ).json()
    assert result["results"][0]["message"] == "退款单不存在"
    assert RawRefund.objects.get(pk=slip.pk).writeback_status == WritebackStatus.NOT_SENT
    # A return slip from another shop's raw refund: not found.
    made = api.post("/api/v1/return-slips/", {"refund_no": slip.refund_no}, format="json")
    assert made.status_code == 422 and made.json()["errors"][0]["message"] == "原始退款单不存在"
    made = api.post(
        "/api/v1/return-slips/",
        {"tid": order.tid, "lines": [{"oid": slip.oid, "quantity": 1}]},
        format="json",
    )
    assert made.status_code == 422 and made.json()["errors"][0]["message"] == "系统订单不存在"


@pytest.mark.django_db
def test_docs_are_served_locally_and_schema_covers_the_api(client):
    docs = client.get("/api/docs/").content.decode()
    import re

    sources = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert sources and all(src.startswith("/static/") for src in sources), sources
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/orders/",
        "/api/v1/orders/{tid}/",
        "/api/v1/raw-refunds/",
        "/api/v1/raw-refunds/{refund_no}/",
        "/api/v1/raw-refunds/writeback/",
        "/api/v1/return-slips/",
        "/api/v1/return-slips/{number}/",
        "/api/v1/return-slips/{number}/inbounds/",
        "/api/v1/auto-writeback/runs/",
        "/api/v1/auto-writeback/runs/{id}/",
        "/api/v1/writeback-jobs/{id}/",
    } <= paths
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    push = schema["paths"]["/api/v1/raw-refunds/"]["post"]
    assert "400" in push["responses"] and "批量推送" in push["summary"]
    assert client.get("/api/").status_code == 302
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


@pytest.mark.django_db
def test_unsafe_methods_and_unknown_routes_answer_in_shape(api):
    response = api.delete("/api/v1/raw-refunds/")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    response = api.post("/api/v1/raw-refunds/", "items=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
