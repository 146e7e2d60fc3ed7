"""Where a webhook may go: internal addresses are refused when a subscription is saved and again at
every delivery (after the one DNS lookup, whose address is the one connected to), redirects are not
followed, and what a receiver answers is kept short and harmless.

Unless a test says otherwise, the settings are the defaults: nothing internal is allowed."""

import gzip
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from api import ssrf
from api.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from api.services import raw_refunds_push
from api.webhooks import RESPONSE_KEPT, webhook_deliver_due

from .test_webhooks import SECRET, item

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ADD_URL = "/admin/api/webhooksubscription/add/"


class Answering:
    """A real HTTP(S) server on 127.0.0.1 that answers every POST with (status, headers, body)."""

    def __init__(self, status=200, headers=(), body=b"ok", tls: ssl.SSLContext | None = None):
        self.requests, self.server_names = [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open unless the client closes them

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def answering():
    servers = []

    def start(*args, **kwargs):
        servers.append(Answering(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def fake_dns(monkeypatch, table):
    """The resolver answers from `table` (name → addresses, or an exception); records every lookup."""
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        answer = table[host]
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return lookups


def form_data(shop, url, **extra):
    return {
        "shop": shop.pk,
        "name": "wms",
        "url": url,
        "events": ["raw_refund.changed"],
        "secret": "",
        "is_active": "on",
        **extra,
    }


def deliver_one(shop, url, **kwargs):
    WebhookSubscription.objects.create(
        shop=shop, name="wms", url=url, events=["raw_refund.changed"], secret=SECRET
    )
    raw_refunds_push(shop, [item()], by="API：wms")
    assert webhook_deliver_due(**kwargs) == 1
    return WebhookDelivery.objects.get()


# --- save time: the subscription form -----------------------------------------------------------
REFUSED = [
    ("http://127.0.0.1:8000/hook", "是本机回环地址"),
    ("http://localhost:6379/", "本机回环地址"),
    ("https://hooks.localhost/", "本机回环地址"),
    ("https://[::1]/hook", "是本机回环地址"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("https://[fe80::1]/hook", "链路本地地址"),
    ("https://10.1.2.3/hook", "是内网地址"),
    ("https://172.16.0.1/hook", "是内网地址"),
    ("https://172.31.255.254/hook", "是内网地址"),
    ("https://192.168.1.10/hook", "是内网地址"),
    ("https://[fc00::1]/hook", "是内网地址"),
    ("https://[fd12:3456::1]/hook", "是内网地址"),
    ("https://100.64.0.1/hook", "运营商级 NAT 地址"),
    ("https://224.0.0.1/hook", "组播/广播地址"),
    ("https://[ff02::1]/hook", "组播/广播地址"),
    ("https://0.0.0.0/hook", "未指定地址"),
    ("https://[::]/hook", "未指定地址"),
    ("https://240.0.0.1/hook", "保留地址"),
    ("https://[::ffff:127.0.0.1]/hook", "本机回环地址（IPv6 写法）"),
    ("https://[::ffff:169.254.169.254]/hook", "链路本地地址"),
    ("https://[::ffff:10.0.0.1]/hook", "内网地址（IPv6 写法）"),
    ("https://[64:ff9b::a00:1]/hook", "内网地址（IPv6 写法）"),  # NAT64 of 10.0.0.1
    ("https://[2002:7f00:1::]/hook", "保留地址"),  # 6to4 around 127.0.0.1
    ("http://2130706433/hook", "非标准写法（即 127.0.0.1）"),
    ("http://0177.0.0.1/hook", "非标准写法（即 127.0.0.1）"),
    ("http://127.1/hook", "非标准写法（即 127.0.0.1）"),
    ("http://0x7f.0.0.1/hook", "非标准写法（即 127.0.0.1）"),
    ("http://0x7f000001/hook", "非标准写法（即 127.0.0.1）"),
    ("ftp://wms.example.com/hook", "须为以 https:// 开头"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_subscription_form_refuses_internal_addresses(admin_client, shop, url, reason):
    response = admin_client.post(ADD_URL, form_data(shop, url))
    assert response.status_code == 200  # the form again, with the error at 接收地址
    [message] = response.context["adminform"].form.errors["url"]
    assert message.startswith("接收地址") and reason in message
    assert reason in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_a_name_is_refused_when_any_of_its_addresses_is_internal(admin_client, shop, monkeypatch):
    fake_dns(
        monkeypatch,
        {
            "wms.merchant.example": ["10.0.0.8"],
            "mixed.merchant.example": ["93.184.215.14", "192.168.0.3"],
            "typo.merchant.example": socket.gaierror(-2, "Name or service not known"),
        },
    )
    cases = [
        ("https://wms.merchant.example/hook", "解析到内网地址 10.0.0.8"),
        ("https://mixed.merchant.example/hook", "解析到内网地址 192.168.0.3"),
        ("https://typo.merchant.example/hook", "主机名 typo.merchant.example 无法解析"),
    ]
    for url, reason in cases:
        response = admin_client.post(ADD_URL, form_data(shop, url))
        [message] = response.context["adminform"].form.errors["url"]
        assert reason in message, url
    assert not WebhookSubscription.objects.exists()


def test_a_public_https_receiver_is_saved(admin_client, shop, monkeypatch):
    lookups = fake_dns(monkeypatch, {"hooks.merchant.example": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    for url in ("https://hooks.merchant.example/erp?k=1", "https://93.184.215.14:8443/erp"):
        response = admin_client.post(ADD_URL, form_data(shop, url))
        assert response.status_code == 302, response.context["adminform"].form.errors
    assert sorted(WebhookSubscription.objects.values_list("url", flat=True)) == [
        "https://93.184.215.14:8443/erp",
        "https://hooks.merchant.example/erp?k=1",
    ]
    assert lookups == ["hooks.merchant.example"]  # an address literal needs no lookup


def test_http_is_refused_unless_allowed(admin_client, shop, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    response = admin_client.post(ADD_URL, form_data(shop, "http://93.184.215.14/hook"))
    [message] = response.context["adminform"].form.errors["url"]
    assert "须使用 https://" in message and "WEBHOOK_ALLOW_HTTP" in message
    settings.WEBHOOK_ALLOW_HTTP = True
    assert admin_client.post(ADD_URL, form_data(shop, "http://93.184.215.14/hook")).status_code == 302


def test_listed_intranet_hosts_are_let_through_and_nothing_else(admin_client, shop, settings, monkeypatch):
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["wms.intranet.example", "10.20.0.0/16", "0.0.0.0"]
    fake_dns(monkeypatch, {"wms.intranet.example": ["10.9.9.9"], "bi.intranet.example": ["10.9.9.10"]})
    for url in ("https://wms.intranet.example/hook", "https://10.20.1.5/hook"):
        assert admin_client.post(ADD_URL, form_data(shop, url)).status_code == 302, url
    for url, reason in [
        ("https://bi.intranet.example/hook", "解析到内网地址 10.9.9.10"),
        ("https://10.21.0.1/hook", "是内网地址"),
        ("http://169.254.169.254/", "链路本地地址"),
        ("https://0.0.0.0/hook", "不能作为接收地址"),  # never a receiver, listed or not
    ]:
        response = admin_client.post(ADD_URL, form_data(shop, url))
        [message] = response.context["adminform"].form.errors["url"]
        assert reason in message, url
    assert WebhookSubscription.objects.count() == 2


def test_an_old_subscription_to_an_internal_address_can_be_switched_off_but_not_on(admin_client, shop):
    old = WebhookSubscription.objects.create(
        shop=shop, name="wms", url="http://127.0.0.1:9/hook", events=["raw_refund.changed"], secret="s"
    )
    change_url = f"/admin/api/webhooksubscription/{old.pk}/change/"
    switched_off = form_data(shop, old.url)
    del switched_off["is_active"]
    assert admin_client.post(change_url, switched_off).status_code == 302
    old.refresh_from_db()
    assert not old.is_active
    response = admin_client.post(change_url, form_data(shop, old.url))
    assert "是本机回环地址" in response.context["adminform"].form.errors["url"][0]
    old.refresh_from_db()
    assert not old.is_active


# --- delivery time -----------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "127.1", "[::ffff:127.0.0.1]"])
def test_an_existing_subscription_to_an_internal_address_gets_a_reason_and_no_request(
    shop, answering, spelling
):
    receiver = answering()
    delivery = deliver_one(shop, f"http://{spelling}:{receiver.port}/hook")
    assert receiver.requests == []
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_status_code is None and delivery.last_error.startswith("接收地址的主机")
    assert "回环地址" in delivery.last_error or "非标准写法" in delivery.last_error
    assert delivery.history[-1]["error"] == delivery.last_error


def test_a_name_resolving_to_an_internal_address_is_not_posted_to(shop, monkeypatch):
    lookups = fake_dns(monkeypatch, {"hooks.merchant.example": ["93.184.215.14", "10.0.0.5"]})
    sent = []
    client = httpx.Client(transport=httpx.MockTransport(lambda request: sent.append(request)))
    delivery = deliver_one(shop, "https://hooks.merchant.example/erp", client=client)
    assert sent == [] and lookups == ["hooks.merchant.example"]
    assert "解析到内网地址 10.0.0.5" in delivery.last_error and delivery.last_status_code is None


def test_the_request_goes_to_the_address_checked_once_with_the_receivers_name(
    shop, answering, settings, monkeypatch
):
    """`receiver.test` exists only in the fake resolver, and answers 127.0.0.1 once, then an
    unreachable address: the delivery still arrives, so it was sent to the address the check saw,
    not to a second lookup (DNS rebinding) — and the receiver was asked for by its own name."""
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["receiver.test"]
    receiver = answering()
    answers = iter([["127.0.0.1"], ["10.255.255.1"]])
    lookups = []

    def resolve(host, port):
        lookups.append((host, port))
        return next(answers)

    monkeypatch.setattr(ssrf, "resolve", resolve)
    delivery = deliver_one(shop, f"http://receiver.test:{receiver.port}/hook?x=1")
    assert delivery.status == DeliveryStatus.DELIVERED and lookups == [("receiver.test", receiver.port)]
    [request] = receiver.requests
    assert request["headers"]["Host"] == f"receiver.test:{receiver.port}" and request["path"] == "/hook?x=1"


def _certificate_for(name: str, directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_https_to_the_checked_address_verifies_the_certificate_of_the_name(
    shop, answering, settings, monkeypatch, tmp_path
):
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["receiver.test"]
    fake_dns(monkeypatch, {"receiver.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    cert, key = _certificate_for("receiver.test", tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    receiver = answering(tls=server_tls)
    trusting = httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=5)
    delivery = deliver_one(shop, f"https://receiver.test:{receiver.port}/hook", client=trusting)
    assert delivery.status == DeliveryStatus.DELIVERED, delivery.last_error
    assert receiver.server_names == ["receiver.test"]
    assert receiver.requests[0]["headers"]["Host"] == f"receiver.test:{receiver.port}"
    # The same address under a name the certificate does not cover: refused by TLS, not sent.
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["other.test"]
    WebhookSubscription.objects.update(url=f"https://other.test:{receiver.port}/hook")
    WebhookDelivery.objects.update(status=DeliveryStatus.PENDING, next_attempt_at=datetime.now(UTC))
    assert webhook_deliver_due(client=trusting) == 1
    delivery.refresh_from_db()
    assert "ConnectError" in delivery.last_error and "certificate" in delivery.last_error
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "second"])
def test_a_redirect_is_not_followed(shop, answering, settings, location):
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    second = answering()
    location = second.url if location == "second" else location
    first = answering(status=302, headers=[("Location", location)], body=b"moved")
    delivery = deliver_one(shop, first.url)
    assert len(first.requests) == 1 and second.requests == []
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
    assert "不跟随重定向" in delivery.last_error and location in delivery.last_error


def test_a_client_that_would_follow_redirects_does_not(shop, answering, settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    second = answering()
    first = answering(status=307, headers=[("Location", second.url)])
    delivery = deliver_one(shop, first.url, client=httpx.Client(follow_redirects=True))
    assert second.requests == [] and delivery.last_status_code == 307


# --- what is kept of the answer -----------------------------------------------------------------
def test_the_answer_is_kept_short_without_control_characters_and_shown_escaped(
    shop, answering, settings, admin_client
):
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    body = (
        "<script>alert('x')</script>\r\n\x1b[31mred\x1b[0m\x00\u202egnp.exe\t错误：" + "重复的事件 " * 2000
    ).encode()
    receiver = answering(status=500, headers=[("Content-Type", "text/html; charset=utf-8")], body=body)
    delivery = deliver_one(shop, receiver.url)
    kept = delivery.last_response
    assert len(kept) <= RESPONSE_KEPT and kept.endswith("…")
    assert kept.startswith("<script>alert('x')</script> [31mred[0mgnp.exe 错误：重复的事件")
    assert not any(ord(ch) < 32 or ch in "\x7f\u202e" for ch in kept)
    assert delivery.history[-1]["response"] == kept and delivery.last_error == "接收方返回 HTTP 500"
    page = admin_client.get(f"/admin/api/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_a_compressed_answer_is_not_unpacked(shop, answering, settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    bomb = gzip.compress(b"0" * 5_000_000)
    receiver = answering(status=200, headers=[("Content-Encoding", "gzip")], body=bomb)
    delivery = deliver_one(shop, receiver.url)
    assert (
        delivery.status == DeliveryStatus.DELIVERED and delivery.last_response == "（压缩的响应内容，未保存）"
    )
    assert receiver.requests[0]["headers"]["Accept-Encoding"] == "identity"


# --- the address rule itself --------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"],
)
def test_public_addresses_pass(address):
    assert ssrf.address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.255.0.1",
        "10.255.255.255",
        "172.20.0.1",
        "192.168.255.1",
        "169.254.0.1",
        "100.127.255.254",
        "192.0.2.1",
        "198.18.0.1",
        "255.255.255.255",
        "fec0::1",
        "2001:db8::1",
        "2001::1",
        "::7f00:1",
        "::ffff:0.0.0.0",
        "::ffff:100.64.0.1",
    ],
)
def test_internal_and_reserved_addresses_fail(address):
    assert ssrf.address_problem(ipaddress.ip_address(address)) is not None


PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps([settings.WEBHOOK_ALLOW_HTTP, settings.WEBHOOK_ALLOWED_PRIVATE_HOSTS]))"
)
PRODUCTION = {
    "ERP_ENV": "production",
    "DEBUG": "0",
    "SECRET_KEY": "k" * 40 + "abcdefghijklmnop",
    "FIELD_ENCRYPTION_KEY": "q0wG2b7Yc6dT9hS3nVfJ1kL4mP8rX5zA2eB7uC0yWiE=",
}


def settings_in_fresh_interpreter(**env):
    import os

    keep = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "ERP_ENV", "DEBUG"))}
    keep["DJANGO_SETTINGS_MODULE"] = "erp_aftersales.settings"
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_http_is_off_in_production_unless_switched_on_and_the_list_is_checked():
    assert json.loads(settings_in_fresh_interpreter().stdout) == [True, []]
    assert json.loads(settings_in_fresh_interpreter(**PRODUCTION).stdout) == [False, []]
    switched = settings_in_fresh_interpreter(
        **PRODUCTION, WEBHOOK_ALLOW_HTTP="1", WEBHOOK_ALLOWED_PRIVATE_HOSTS="wms.corp, 10.20.0.0/16"
    )
    assert json.loads(switched.stdout) == [True, ["wms.corp", "10.20.0.0/16"]]
    wrong = settings_in_fresh_interpreter(WEBHOOK_ALLOWED_PRIVATE_HOSTS="10.20.0.0/33")
    assert wrong.returncode != 0 and "WEBHOOK_ALLOWED_PRIVATE_HOSTS" in wrong.stderr
