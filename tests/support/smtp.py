"""The `smtp` fixture: a real in-process SMTP server (aiosmtpd, tests/support/smtp_server.py) on a free
port, plus helpers that read the one-time codes out of the messages it received."""
from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from .servers import free_port
from .smtp_server import SmtpServer

CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def email_config(server: SmtpServer) -> dict:
    """The `[email]` overrides that send through `server`."""
    return {"enabled": True, "host": "127.0.0.1", "port": server.port, "timeout_seconds": 2.0}


def down_email_config() -> dict:
    """`[email]` overrides pointing at a port where nothing listens (the mail server is down)."""
    return {"enabled": True, "host": "127.0.0.1", "port": free_port(), "timeout_seconds": 1.0}


def code_in(message: EmailMessage) -> str:
    """The 6-digit code of a code email (it stands alone, indented, on its own line)."""
    body = message.get_body(("plain",)).get_content()
    found = CODE.search(body)
    assert found, f"no code in message {message['Subject']!r}:\n{body}"
    return found.group(1)


def latest_code(server: SmtpServer, address: str, count: int = 1) -> str:
    """The code of the newest message to `address`, once `count` messages arrived."""
    return code_in(server.wait_for(address, count=count))
