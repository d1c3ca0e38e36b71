"""The `slow_smtp` fixture: the in-process SMTP server (smtp_server.py), taking 2 s to accept each message."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from .smtp_server import SmtpServer, _Handler

DELAY = 2.0


class SlowHandler(_Handler):
    """A slow or overloaded mail server: DATA is answered after DELAY seconds."""

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        await asyncio.sleep(DELAY)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server._controller = Controller(SlowHandler(server), hostname="127.0.0.1", port=server.port)
    with server:
        yield server
