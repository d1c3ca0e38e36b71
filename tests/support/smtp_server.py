"""A real SMTP server for tests (aiosmtpd on 127.0.0.1, a free port): keeps every message it receives."""
from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from .servers import free_port


class _Handler:
    def __init__(self, box: "SmtpServer") -> None:
        self.box = box

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.box.lock:
            self.box.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpServer:
    """`with SmtpServer() as smtp:` … `smtp.wait_for("alice@example.com")` → the newest message to her."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpServer":
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def to(self, address: str, subject_contains: str = "") -> list[EmailMessage]:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt and subject_contains in (m["Subject"] or "")]

    def wait_for(self, address: str, subject_contains: str = "", count: int = 1, timeout: float = 5.0) -> EmailMessage:
        """The newest message to `address` once at least `count` (with that subject) arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address, subject_contains)
            if len(found) >= count:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {count} message(s) to {address} with {subject_contains!r} within {timeout}s; "
                             f"got {[(r, m['Subject']) for r, m in self.messages]}")
