"""The HTTP server: `/routerjson` for JOS, `/oauth2/...` for JD's OAuth (sandbox/oauth.py),
`/_sandbox/...` for the control API, one thread per request,
plus a timer thread applying the SA policy on time (requests also apply it before answering)."""

from __future__ import annotations

import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import control, jos, oauth
from .state import SandboxState

JOS_PATH = "/routerjson"
MAX_BODY_BYTES = 10 * 1024 * 1024
# Request lines can carry credentials in the query string: never let them reach the log.
_SECRET_IN_TEXT = re.compile(r"((?:access_token|refresh_token|app_secret|sign)=)[^&\s'\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    return _SECRET_IN_TEXT.sub(r"\1***", text)


def _flat(query: dict[str, list[str]]) -> dict[str, str]:
    return {name: values[-1] for name, values in query.items()}


class SandboxHandler(BaseHTTPRequestHandler):
    server_version = "JD-SA-Sandbox/1.0"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, a keep-alive client waits ~40 ms for
    # the delayed ACK on every call.
    disable_nagle_algorithm = True
    server: SandboxServer

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()  # answers 405 (or 404) in JSON rather than http.server's HTML 501

    do_PATCH = do_PUT

    def _dispatch(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(jos.json_reply({"error": "body too large"}, 413))
            return
        raw = self.rfile.read(length) if length else b""
        try:
            if url.path == JOS_PATH and self.command in ("GET", "POST"):
                params = _flat(parse_qs(url.query, keep_blank_values=True))
                if self.command == "POST" and raw:
                    params.update(_flat(parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)))
                self._send(jos.handle(self.server.state, params))
            elif url.path in oauth.PATHS:
                params = _flat(parse_qs(url.query, keep_blank_values=True))
                if self.command == "POST" and raw:
                    params.update(_flat(parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)))
                self._send(oauth.handle(self.server.state, self.command, url.path, params))
            elif url.path.startswith("/_sandbox/"):
                query = parse_qs(url.query)
                self._send(control.handle(self.server.state, self.command, url.path, query, raw))
            else:
                self._send(jos.json_reply({"error": f"no such endpoint: {url.path}"}, 404))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. it timed out on an injected hang)
        except Exception:  # a sandbox bug: answer 500 rather than drop the connection
            traceback.print_exc()
            self._send(jos.json_reply({"error": "sandbox internal error, see its stderr"}, 500))

    def _send(self, reply: jos.Reply):
        self._note = reply.note
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_request(self, code="-", size="-"):
        if not self.server.quiet:
            path = urlsplit(self.path).path  # never the query string
            note = getattr(self, "_note", "")
            self.log_message("%s %s %s%s", self.command, path, code, f" {note}" if note else "")

    def log_message(self, format, *args):
        sys.stderr.write(redact(f"[sa-sandbox] {self.log_date_time_string()} {format % args}") + "\n")


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state: SandboxState, *, quiet: bool = False):
        super().__init__(address, SandboxHandler)
        self.state = state
        self.quiet = quiet
        self._stop = threading.Event()
        self._policy_thread = threading.Thread(target=self._apply_policy, name="sa-policy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def _apply_policy(self):
        while not self._stop.wait(0.1):
            self.state.promote_due()

    def serve_forever(self, poll_interval: float = 0.2):
        self._policy_thread.start()
        try:
            super().serve_forever(poll_interval)
        finally:
            self._stop.set()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, BrokenPipeError | ConnectionResetError):
            return
        super().handle_error(request, client_address)
