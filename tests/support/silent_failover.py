"""A TCP proxy in front of PostgreSQL that can fail over silently: the old connections' sockets stay open and
quiet (no last message, no FIN), and their next bytes get a TCP reset, as when the database's address moves to
another host. New connections go through to the server as before."""
from __future__ import annotations

import socket
import struct
import threading


class _Pair:
    """One client connection and its connection to the server, copied both ways until `cut`."""

    def __init__(self, client: socket.socket, upstream: tuple[str, int]) -> None:
        self.client, self.cut = client, False
        self.server = socket.create_connection(upstream)
        threading.Thread(target=self._to_server, daemon=True).start()
        threading.Thread(target=self._to_client, daemon=True).start()

    def _to_server(self) -> None:
        while True:
            try:
                data = self.client.recv(65536)
            except OSError:
                return
            if self.cut:           # a host that knows no such connection answers with a reset
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.client.close()
                return
            if not data:
                self.server.shutdown(socket.SHUT_WR)
                return
            self.server.sendall(data)

    def _to_client(self) -> None:
        while True:
            try:
                data = self.server.recv(65536)
            except OSError:
                data = b""
            if self.cut:
                return             # nothing reaches the client
            if not data:
                try:
                    self.client.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            self.client.sendall(data)

    def fail_over(self) -> None:
        self.cut = True
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class SilentFailoverProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._pairs: list[_Pair] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._pairs.append(_Pair(client, self._upstream))

    def fail_over(self) -> None:
        """Every connection made so far goes silent; later ones reach the server."""
        for pair in list(self._pairs):
            pair.fail_over()

    def close(self) -> None:
        self.fail_over()
        self._listener.close()
