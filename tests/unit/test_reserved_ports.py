"""The test servers' ports: a ReservedPort is held from the moment it is chosen, so that nothing else takes it
before its server starts (CI once failed 17 federation tests when the PostgreSQL run beside the SQLite one was
given the port free_port() had named, while the upstream IdP was being built: EADDRINUSE)."""
from __future__ import annotations

import errno
import socket

import httpx
import pytest

from tests.support.servers import ReservedPort, ThreadedServer


def test_nothing_else_can_bind_a_reserved_port_and_its_server_serves_on_it():
    port = ReservedPort()
    try:
        with socket.socket() as other, pytest.raises(OSError) as refused:
            other.bind(("127.0.0.1", port.number))
        assert refused.value.errno == errno.EADDRINUSE

        def app(environ, start_response):  # noqa: ANN001, ANN202
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"served"]

        with ThreadedServer(app, port) as server:
            assert server.port == port.number
            assert httpx.get(f"http://127.0.0.1:{port.number}/", timeout=5).text == "served"
    finally:
        port.close()
