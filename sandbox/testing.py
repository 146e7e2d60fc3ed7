"""For the project's tests: start the sandbox as a real subprocess, drive its control API, and make
signed JOS calls without the project's JOS client. urllib only; no Django.

    with start_sandbox() as sandbox:
        sandbox.seed_shop(app_key="K", app_secret="S", access_token="T", shop_no="JD-1", name="店")
        sandbox.seed_refunds("K", [{"id": 1, "orderId": 8100000001, "status": 0}])
        jos_call(sandbox.jos_url, "K", "S", "T", "jingdong.pop.afs.soa.refundapply.queryById", {"id": 1})
"""

from __future__ import annotations

import atexit
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from platforms.jd.signing import jd_timestamp, sign

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_LINE = re.compile(r"SA sandbox ready at (http://\S+)")


class SandboxError(RuntimeError):
    """The control API refused a request (400/404/405); `.status` and `.body` say why."""

    def __init__(self, status: int, body):
        message = body.get("error") if isinstance(body, dict) else body
        super().__init__(f"sandbox answered HTTP {status}: {message}")
        self.status, self.body = status, body


class SandboxClient:
    """The control API of a running sandbox (see docs/sandbox.md)."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.jos_url = self.url + "/routerjson"
        self.timeout = timeout

    def _request(self, verb: str, path: str, body=None, **query):
        query = {k: v for k, v in query.items() if v is not None}
        url = f"{self.url}/_sandbox{path}" + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=verb)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")
            raise SandboxError(error.code, payload) from None

    def health(self) -> dict:
        return self._request("GET", "/health")

    def reset(self) -> None:
        self._request("POST", "/reset")

    def seed_shop(self, **fields) -> dict:
        """app_key, app_secret, access_token required; shop_no, name, vender_id, policy optional."""
        return self._request("POST", "/shops", fields)["shop"]

    def shops(self) -> list[dict]:
        return self._request("GET", "/shops")["shops"]

    def token(self, app_key: str) -> dict:
        """The shop's token state: expiries and flags (never a token)."""
        return self._request("GET", f"/shops/{app_key}/token")["token"]

    def set_token(self, app_key: str, **fields) -> dict:
        """expire_access_token, access_token_expires_in, revoke_refresh_token, refresh_token,
        refresh_token_expires_in, token_lifetime_seconds (docs/sandbox.md)."""
        return self._request("POST", f"/shops/{app_key}/token", fields)["token"]

    def seed_orders(self, app_key: str, orders: list[dict]) -> int:
        return self._request("POST", "/orders", {"app_key": app_key, "orders": orders})["upserted"]

    def seed_refunds(self, app_key: str, refunds: list[dict]) -> int:
        return self._request("POST", "/refunds", {"app_key": app_key, "refunds": refunds})["upserted"]

    def update_refund(self, id, app_key: str | None = None, **fields) -> dict:
        """Changes fields as JD would (e.g. status=11, the buyer cancels); modified/checkTime become now."""
        return self._request("POST", f"/refunds/{id}", fields, app_key=app_key)["refund"]

    def update_order(self, order_id, app_key: str | None = None, **fields) -> dict:
        return self._request("POST", f"/orders/{order_id}", fields, app_key=app_key)["order"]

    def refund(self, id, app_key: str | None = None) -> dict:
        """Current state, with `warehouseWritebacks` ([{status, meaning, time}]) and `policyRefundAt`."""
        return self._request("GET", f"/refunds/{id}", app_key=app_key)["refund"]

    def refunds(self, app_key: str | None = None) -> list[dict]:
        return self._request("GET", "/refunds", app_key=app_key)["refunds"]

    def order(self, order_id, app_key: str | None = None) -> dict:
        return self._request("GET", f"/orders/{order_id}", app_key=app_key)["order"]

    def orders(self, app_key: str | None = None) -> list[dict]:
        return self._request("GET", "/orders", app_key=app_key)["orders"]

    def calls(self, method: str | None = None, app_key: str | None = None) -> list[dict]:
        return self._request("GET", "/calls", method=method, app_key=app_key)["calls"]

    def clear_calls(self) -> None:
        self._request("DELETE", "/calls")

    def set_faults(self, app_key: str | None = None, **fields) -> dict:
        """Replaces the faults of one shop (app_key) or the global ones (no app_key)."""
        body = {**fields, **({"app_key": app_key} if app_key else {})}
        return self._request("POST", "/faults", body)

    def faults(self) -> list[dict]:
        return self._request("GET", "/faults")["faults"]

    def clear_faults(self, app_key: str | None = None) -> None:
        self._request("DELETE", "/faults", app_key=app_key)

    def set_policy(
        self,
        app_key: str,
        auto_refund_on: list[str],
        delay_seconds: float,
        buyer_ships_after_seconds: float | None = None,
    ) -> dict:
        body = {
            "app_key": app_key,
            "auto_refund_on": auto_refund_on,
            "delay_seconds": delay_seconds,
            "buyer_ships_after_seconds": buyer_ships_after_seconds,
        }
        return self._request("POST", "/policy", body)

    # --- JD's after-sales service orders (jingdong.asc.*) ---
    def seed_service_orders(self, app_key: str, service_orders: list[dict]) -> int:
        body = {"app_key": app_key, "service_orders": service_orders}
        return self._request("POST", "/service-orders", body)["upserted"]

    def service_order(self, id, app_key: str | None = None) -> dict:
        """Current state, with `writebacks` (what the ERP told JD) and `policyFinishAt`."""
        return self._request("GET", f"/service-orders/{id}", app_key=app_key)["service_order"]

    def service_orders(self, app_key: str | None = None) -> list[dict]:
        return self._request("GET", "/service-orders", app_key=app_key)["service_orders"]

    def update_service_order(self, id, app_key: str | None = None, **fields) -> dict:
        """Changes fields as JD would (serviceStatus=10005 approves, 10011 cancels); updateTime is now."""
        return self._request("POST", f"/service-orders/{id}", fields, app_key=app_key)["service_order"]

    def ship_service_order(self, id, app_key: str | None = None, **parcel) -> dict:
        """The buyer ships the goods of an approved 退货/换货/维修 back; parcel: company, waybill."""
        return self._request("POST", f"/service-orders/{id}/ship", parcel, app_key=app_key)["service_order"]

    def load_demo(self) -> dict:
        return self._request("POST", "/demo")["loaded"]


class SandboxProcess(SandboxClient):
    """A sandbox subprocess; `.stop()` (or leaving the `with` block) terminates it."""

    def __init__(self, url: str, process: subprocess.Popen, log_path: str):
        super().__init__(url)
        self.process = process
        self.log_path = log_path
        atexit.register(self._cleanup)

    def _cleanup(self) -> None:
        self.stop()
        Path(self.log_path).unlink(missing_ok=True)

    def output(self) -> str:
        """What the process printed (stdout and stderr)."""
        try:
            return Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(
    port: int | None = None,
    demo: bool = False,
    policy_delay: float = 1.0,
    extra_args=(),
    timeout: float = 15.0,
) -> SandboxProcess:
    """Starts `python -m sandbox` (on a free port when `port` is None) and waits until
    /_sandbox/health answers. Raises RuntimeError with the process's output if it dies or times out."""
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(port or 0),
        "--policy-delay",
        str(policy_delay),
        *(["--demo"] if demo else []),
        *map(str, extra_args),
    ]
    log = tempfile.NamedTemporaryFile(prefix="sa-sandbox-", suffix=".log", delete=False)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A file, not a pipe: a chatty sandbox must never block on a full pipe nobody reads.
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        output = Path(log.name).read_text(errors="replace")
        if process.poll() is not None:
            raise RuntimeError(f"SA sandbox exited with {process.returncode}:\n{output}")
        if url is None:
            found = READY_LINE.search(output)
            url = found.group(1) if found else None
        if url:
            try:
                if SandboxClient(url, timeout=1.0).health().get("ok"):
                    return SandboxProcess(url, process, log.name)
            except (OSError, SandboxError):
                pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(
        f"SA sandbox not ready after {timeout}s:\n{Path(log.name).read_text(errors='replace')}"
    )


# --- signed JOS calls -------------------------------------------------------------------------


def signed_params(
    app_key: str,
    app_secret: str,
    access_token: str,
    method: str,
    params: dict,
    timestamp: str | datetime | None = None,
) -> dict[str, str]:
    """The form parameters of a JOS call, signed as JD signs them."""
    if isinstance(timestamp, datetime):
        timestamp = jd_timestamp(timestamp)
    form = {
        "method": method,
        "app_key": app_key,
        "access_token": access_token,
        "timestamp": timestamp or jd_timestamp(),
        "v": "2.0",
        "format": "json",
        "360buy_param_json": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
    }
    form["sign"] = sign(form, app_secret)
    return form


def post_form(url: str, form: dict, timeout: float = 10.0) -> dict:
    """POSTs form parameters as-is (for tests tampering with them); returns the parsed JSON.
    Non-2xx answers raise urllib.error.HTTPError; a timeout raises TimeoutError/URLError."""
    if urlsplit(url).path in ("", "/"):
        url = url.rstrip("/") + "/routerjson"
    data = urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def jos_call(
    url: str,
    app_key: str,
    app_secret: str,
    access_token: str,
    method: str,
    params: dict,
    timestamp: str | datetime | None = None,
    timeout: float = 10.0,
) -> dict:
    """One signed JOS call; returns JD's envelope as parsed JSON."""
    form = signed_params(app_key, app_secret, access_token, method, params, timestamp)
    return post_form(url, form, timeout=timeout)
