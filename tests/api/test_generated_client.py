"""An integrator's first move: generate a client from the served /api/schema/ with
openapi-python-client, install it as pip would, and run a whole integration with it against a live
server, no hand edits: push orders and raw refund slips, list and filter them, ask for 退款回传 and
poll the job, create a return slip and record its inbound, quote and create refund slips, and read
the webhook events with the generated payload models. The writebacks reach the SA sandbox over HTTP.

openapi-generator's Python client (its PyPI package bundles the generator's jar; it needs Java) is
generated too and runs a shorter flow. Its TypeScript generators need the npm registry to compile the
result, which the test suite does not reach: not run here."""

import hashlib
import hmac
import importlib
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from api.keys import api_key_create
from api.models import WebhookSubscription
from api.webhooks import SIGNATURE_HEADER, webhook_deliver_due
from refunds.models import RawRefund
from sa_sync.writeback import writeback_job_run
from tests.conftest import seed_applications

from .test_webhooks import Receiver

PACKAGE = "erp_aftersales_api_client"
SECRET = "integrator-secret"
SHANGHAI = timedelta(hours=8)


def run(*args, cwd):
    # The generator formats its output with ruff, found on PATH: the venv's own.
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package, generated from what the live server serves and pip-installed (its own
    pyproject, built by poetry-core) into a folder of its own, then imported from there."""
    schema = httpx.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    output = run(
        sys.executable, "-m", "openapi_python_client", "generate", "--path", "schema.json", cwd=tmp_path
    )
    # Everything in the schema became code: no skipped endpoint or model.
    assert "Warning" not in output and "Unable" not in output, output
    project = tmp_path / "erp-aftersales-api-client"
    assert (project / PACKAGE / "__init__.py").exists()
    site = tmp_path / "site"
    run(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--target", str(site), str(project), cwd=tmp_path,
    )  # fmt: skip
    assert any(p.name.startswith("erp_aftersales_api_client-") for p in site.iterdir())
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def local(moment: datetime) -> bool:
    return moment.utcoffset() == SHANGHAI


@pytest.mark.django_db(transaction=True)
def test_an_integrator_runs_the_whole_flow_with_a_generated_client(
    generated, live_server, sandbox, jd, settings, local_receivers
):
    settings.WRITEBACK_BACKGROUND_OVER = 2  # three slips become a job to poll
    _, key = api_key_create(shop=jd, name="wms", by="测试", review_level=1)
    receiver = Receiver()
    WebhookSubscription.objects.create(
        shop=jd,
        name="integrator",
        url=receiver.url,
        secret=SECRET,
        events=["raw_refund.changed", "raw_refund.writeback", "return_slip.changed", "refund_slip.changed"],
    )
    try:
        _flow(generated, live_server.url, key, sandbox, jd, receiver)
    finally:
        receiver.close()


def _flow(client_package, url, key, sandbox, jd, receiver):
    from erp_aftersales_api_client import AuthenticatedClient
    from erp_aftersales_api_client.api.orders import orders_push, orders_refund_quote, orders_retrieve
    from erp_aftersales_api_client.api.raw_refunds import (
        raw_refunds_list,
        raw_refunds_push,
        raw_refunds_retrieve,
        raw_refunds_writeback,
    )
    from erp_aftersales_api_client.api.refund_slips import refund_slips_create, refund_slips_retrieve
    from erp_aftersales_api_client.api.return_slips import return_slips_create, return_slips_record_inbound
    from erp_aftersales_api_client.api.writeback_jobs import writeback_jobs_retrieve
    from erp_aftersales_api_client.models import (
        ErrorCodeEnum,
        ErrorOut,
        InboundInRequest,
        InboundLineInRequest,
        OrderBulkInRequest,
        OrderInRequest,
        OrderLineInRequest,
        OrderStatusEnum,
        PlatformObjectEnum,
        PlatformStatusEnum,
        RawRefundBulkInRequest,
        RawRefundEvent,
        RawRefundInRequest,
        RefundQuoteInRequest,
        RefundQuoteInRequestLines,
        RefundSlipEvent,
        RefundSlipInRequest,
        RefundSlipInRequestLines,
        RefundTypeEnum,
        ReturnSlipEvent,
        ReturnSlipInRequest,
        ReturnStatusEnum,
        WritebackAccepted,
        WritebackInRequest,
        WritebackJobStatusEnum,
        WritebackOut,
        WritebackOutcomeEnum,
        WritebackStatusEnum,
    )

    client = AuthenticatedClient(base_url=url, token=key, raise_on_unexpected_status=True)
    now = timezone.now()

    # --- push orders: three still in the back office (refund only → 取消发货成功), one shipped
    # (its buyer returns a line), one with three lines for refunds by hand.
    def order(tid, status, lines):
        return OrderInRequest(
            tid=tid,
            status=status,
            modified=now - timedelta(minutes=5),
            paid=f"{sum(p for _, p in lines):.2f}",
            lines=[
                OrderLineInRequest(
                    oid=f"{tid}-{n}", goods_name=name, num=1, price=f"{p:.2f}", paid=f"{p:.2f}"
                )
                for n, (name, p) in enumerate(lines)
            ],
        )

    orders = [order(f"310000000{n}", OrderStatusEnum.AWAITING_CS_REVIEW, [("T恤", 99)]) for n in range(3)]
    orders.append(order("3200000000", OrderStatusEnum.SHIPPED, [("跑步鞋", 158)]))
    orders.append(order("3300000000", OrderStatusEnum.COMPLETED, [("外套", 100), ("帽子", 60), ("袜子", 40)]))
    pushed = orders_push.sync(client=client, body=OrderBulkInRequest(items=orders))
    assert (pushed.created, pushed.updated) == (5, 0)
    assert [r.key for r in pushed.results] == [o.tid for o in orders]

    # --- push raw refund slips.
    def slip(refund_no, tid, refund_type, platform_status, **extra):
        return RawRefundInRequest(
            refund_no=refund_no,
            tid=tid,
            oid=f"{tid}-0",
            refund_type=refund_type,
            platform_status=platform_status,
            refund_amount="99.00",
            num=1,
            apply_time=now - timedelta(minutes=3),
            modified=now - timedelta(minutes=2),
            **extra,
        )

    refund_only = [f"810000000{n}" for n in range(3)]
    slips = [
        slip(no, f"310000000{n}", RefundTypeEnum.REFUND, PlatformStatusEnum.APPLIED)
        for n, no in enumerate(refund_only)
    ]
    # A return is a JD service order (服务单): its 退货入仓 goes to the service order.
    slips.append(
        slip(
            "8200000000",
            "3200000000",
            RefundTypeEnum.RETURN,
            PlatformStatusEnum.AWAITING_RECEIPT,
            platform_object=PlatformObjectEnum.SERVICE_ORDER,
        )
    )
    pushed = raw_refunds_push.sync(client=client, body=RawRefundBulkInRequest(items=slips))
    assert pushed.created == 4
    seed_applications(sandbox, list(RawRefund.objects.filter(shop=jd)))

    # --- list and filter: the parameter repeated (what this client sends) and comma lists both count.
    page = raw_refunds_list.sync(client=client, refund_no=refund_only[:2])
    assert sorted(r.refund_no for r in page.results) == refund_only[:2]
    page = raw_refunds_list.sync(client=client, refund_no=[",".join(refund_only[1:]), "8200000000"])
    assert len(page.results) == 3
    page = raw_refunds_list.sync(client=client, refund_type=RefundTypeEnum.RETURN, page_size=1)
    assert [r.refund_no for r in page.results] == ["8200000000"] and page.next_ is None
    assert page.results[0].writeback_status == WritebackStatusEnum.NOT_SENT
    missing = raw_refunds_retrieve.sync_detailed(client=client, refund_no="8999999999")
    assert missing.status_code == 404 and isinstance(missing.parsed, ErrorOut)
    assert missing.parsed.code == ErrorCodeEnum.NOT_FOUND
    one = raw_refunds_retrieve.sync(client=client, refund_no=refund_only[0])
    assert local(one.updated_at) and one.tid == "3100000000"

    # --- 退款回传: more slips than the background threshold → a job to poll.
    accepted = raw_refunds_writeback.sync(
        client=client, body=WritebackInRequest(refund_nos=[*refund_only, "8000404404"])
    )
    assert isinstance(accepted, WritebackAccepted) and accepted.job.total == 3
    assert accepted.job.status == WritebackJobStatusEnum.QUEUED and accepted.job.pending == 3
    writeback_job_run(accepted.job.id)  # what the worker does with the task
    job = writeback_jobs_retrieve.sync(client=client, id=accepted.job.id)
    assert job.status == WritebackJobStatusEnum.DONE and job.succeeded == 3
    assert job.succeeded + job.refused + job.failed + job.unknown + job.pending == job.total
    assert {r.refund_no: r.outcome for r in job.results} == dict.fromkeys(
        refund_only, WritebackOutcomeEnum.SUCCEEDED
    )
    # A small selection answers at once; what was refused is counted by reason.
    again = raw_refunds_writeback.sync(
        client=client, body=WritebackInRequest(refund_nos=[refund_only[0], "8000404404"])
    )
    assert isinstance(again, WritebackOut) and (again.total, again.succeeded, again.refused) == (2, 0, 2)
    assert sorted(r.reason for r in again.refused_by_reason) == sorted({r.message for r in again.results})

    # --- the buyer's return: a return slip from the 退货 slip, its inbound recorded and audited.
    made = return_slips_create.sync(
        client=client,
        body=ReturnSlipInRequest(refund_no="8200000000", logistics_no="SF0000000001", approve=True),
    )
    assert made.status == ReturnStatusEnum.AWAITING_INBOUND and made.number.startswith("TH")
    inbound = return_slips_record_inbound.sync(
        client=client,
        number=made.number,
        body=InboundInRequest(lines=[InboundLineInRequest(oid="3200000000-0", good_quantity=1)], audit=True),
    )
    assert inbound.completed and inbound.return_slip.status == ReturnStatusEnum.INBOUND_DONE
    assert [w.outcome for w in inbound.writebacks] == [WritebackOutcomeEnum.SUCCEEDED]

    # --- refunds: from the return slip, and by hand after a quote.
    from_return = refund_slips_create.sync(
        client=client, body=RefundSlipInRequest(return_slip_number=made.number)
    )
    assert from_return.return_slip_number == made.number and from_return.tid == "3200000000"
    quote = orders_refund_quote.sync(
        client=client,
        tid="3300000000",
        body=RefundQuoteInRequest(lines=RefundQuoteInRequestLines.from_dict({"3300000000-1": 1})),
    )
    assert quote.refusal is None and quote.whole_order is False and Decimal(quote.amount) == Decimal("60.00")
    by_hand = refund_slips_create.sync(
        client=client,
        body=RefundSlipInRequest(
            tid="3300000000", lines=RefundSlipInRequestLines.from_dict({"3300000000-1": 1})
        ),
    )
    assert Decimal(by_hand.amount) == Decimal(quote.amount) and by_hand.number.startswith("TK")
    read = refund_slips_retrieve.sync(client=client, number=by_hand.number)
    assert read.number == by_hand.number and [line.oid for line in read.lines] == ["3300000000-1"]
    assert (
        local(read.created_at)
        and orders_retrieve.sync(client=client, tid="3300000000").lines[1].oid == "3300000000-1"
    )

    # --- the webhooks: signed, and read with the generated payload models.
    assert webhook_deliver_due() > 0
    models = {
        "raw_refund.changed": RawRefundEvent,
        "raw_refund.writeback": RawRefundEvent,
        "return_slip.changed": ReturnSlipEvent,
        "refund_slip.changed": RefundSlipEvent,
    }
    events = []
    for request in receiver.requests:
        signature = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"][SIGNATURE_HEADER] == signature
        event = models[request["headers"]["X-ERP-Event"]].from_dict(json.loads(request["body"]))
        assert local(event.created_at) and local(event.occurred_at), event
        events.append(event)
    kinds = {type(e).__name__ for e in events}
    assert kinds == {"RawRefundEvent", "ReturnSlipEvent", "RefundSlipEvent"}
    written_back = [
        e for e in events if e.type_.value == "raw_refund.writeback" and e.data.writeback_status == 2
    ]
    assert {e.data.refund_no for e in written_back} == {*refund_only, "8200000000"}
    assert any(isinstance(e, ReturnSlipEvent) and e.data.number == made.number for e in events)
    assert any(
        isinstance(e, RefundSlipEvent) and e.data.number == by_hand.number and e.data.tid == "3300000000"
        for e in events
    )
    assert all(local(e.data.modified) for e in events if isinstance(e, RawRefundEvent))


@pytest.mark.skipif(
    shutil.which("java") is None, reason="openapi-generator runs on Java (17 on the project's machines)"
)
@pytest.mark.django_db(transaction=True)
def test_openapi_generators_python_client_runs_too(live_server, shop_key, tmp_path):
    schema = httpx.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    (tmp_path / "schema.json").write_bytes(schema.content)
    run(
        sys.executable, "-c", "import sys; from openapi_generator_cli import cli; sys.argv[0] = 'openapi-generator-cli'; sys.exit(cli())",
        "generate", "-i", "schema.json", "-g", "python", "-o", "out", "--package-name", "erp_og_client",
        cwd=tmp_path,
    )  # fmt: skip
    sys.path.insert(0, str(tmp_path / "out"))
    try:
        _openapi_generator_flow(live_server.url, shop_key[1])
    finally:
        sys.path.remove(str(tmp_path / "out"))
        for name in [m for m in sys.modules if m == "erp_og_client" or m.startswith("erp_og_client.")]:
            del sys.modules[name]


def _openapi_generator_flow(url, key):
    import erp_og_client as og
    from erp_og_client.exceptions import NotFoundException
    from erp_og_client.models import (
        ErrorCodeEnum,
        ErrorOut,
        OrderBulkInRequest,
        OrderInRequest,
        OrderLineInRequest,
        RawRefundBulkInRequest,
        RawRefundInRequest,
        RefundQuoteInRequest,
        WritebackStatusEnum,
    )

    client = og.ApiClient(og.Configuration(host=url, access_token=key))
    orders, raw_refunds = og.OrdersApi(client), og.RawRefundsApi(client)
    modified = timezone.now() - timedelta(minutes=1)
    lines = [
        OrderLineInRequest(oid=f"3400000000-{n}", goods_name="T恤", price="50.00", paid="50.00")
        for n in range(2)
    ]
    pushed = orders.orders_push(
        OrderBulkInRequest(
            items=[
                OrderInRequest(tid="3400000000", status=110, paid="100.00", modified=modified, lines=lines)
            ]
        )
    )
    assert pushed.created == 1
    items = [
        RawRefundInRequest(refund_no=f"840000000{n}", tid="3400000000", oid=f"3400000000-{n}", refund_type=2,
                           platform_status=4, refund_amount="50.00", modified=modified)
        for n in range(2)
    ]  # fmt: skip
    assert raw_refunds.raw_refunds_push(RawRefundBulkInRequest(items=items)).created == 2
    page = raw_refunds.raw_refunds_list(refund_no=["8400000000", "8400000001"])
    assert sorted(r.refund_no for r in page.results) == ["8400000000", "8400000001"]
    assert page.results[0].writeback_status == WritebackStatusEnum.NOT_SENT
    quote = orders.orders_refund_quote("3400000000", RefundQuoteInRequest(whole_order=True))
    assert quote.whole_order is True and quote.amount == "100.00"
    try:
        raw_refunds.raw_refunds_retrieve("8499999999")
    except NotFoundException as error:
        assert ErrorOut.from_json(error.body).code == ErrorCodeEnum.NOT_FOUND
    else:
        raise AssertionError("a missing slip must be a 404")
