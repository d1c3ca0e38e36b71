"""A real local HTTP "SMS gateway" in a thread: records every POST (JSON webhook or Twilio form), and can
answer 500 or hang, to test delivery failures. `sms_gateway` fixture; `gateway.mode = "fail" | "hang"`."""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from .servers import free_port

CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, str] = field(default_factory=dict)

    @property
    def to(self) -> str:
        return self.body.get("to") or self.body.get("To") or ""

    @property
    def text(self) -> str:
        return self.body.get("message") or self.body.get("Body") or ""

    @property
    def code(self) -> str:
        found = CODE.search(self.text)
        assert found, f"no code in {self.text!r}"
        return found.group(1)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:  # noqa: N802
        gateway = self.server.gateway
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            body = json.loads(raw or "{}")
        else:
            body = {k: v[0] for k, v in parse_qs(raw).items()}
        if gateway.mode == "hang":
            gateway.release.wait(5)
        elif gateway.mode == "ok":
            with gateway.lock:
                gateway.received.append(Received(self.path, dict(self.headers), body))
        status = 500 if gateway.mode == "fail" else 201
        answer = json.dumps({"sid": "SM" + "0" * 32} if status == 201 else {"error": "gateway broken"}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the client gave up (timeout test)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    gateway: "SmsGateway"


class SmsGateway:
    """`url` is its base address; `received` the messages it accepted; `mode` "ok", "fail" (HTTP 500)
    or "hang" (answers only after the client has given up)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "ok"
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.gateway = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "SmsGateway":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait_for(self, to: str, count: int = 1, timeout: float = 5.0) -> Received:
        """The newest message to `to` once at least `count` arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [r for r in self.received if r.to == to]
            if len(found) >= count:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {count} SMS to {to} within {timeout}s; got {[r.to for r in self.received]}")


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    with SmsGateway() as gateway:
        yield gateway


def webhook_config(gateway: SmsGateway, token: str = "gateway-token", timeout: float = 1.0) -> dict:
    return {"provider": "webhook", "webhook_url": gateway.url + "/sms", "webhook_token": token,
            "timeout_seconds": timeout}


def twilio_config(gateway: SmsGateway, timeout: float = 1.0) -> dict:
    return {"provider": "twilio", "twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": "twilio-secret",
            "twilio_from": "+447700900999", "twilio_base_url": gateway.url, "timeout_seconds": timeout}
