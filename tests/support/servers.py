"""Real HTTP servers for tests: the app in a background thread, or `idp serve` in a subprocess."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReservedPort:
    """A free port of 127.0.0.1, held from the moment it is chosen (a listening socket) until a ThreadedServer
    serves on it. free_port() only names a port: until a server binds it, the kernel may give it to an outgoing
    connection of any process (the PostgreSQL test run beside this one), and the server then fails with
    EADDRINUSE. Use it when the port must be known long before the server starts (an issuer URL in the config
    the app is built from). Close it when the server has stopped."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.number: int = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()


class ThreadedServer:
    """A WSGI app served on 127.0.0.1:port by werkzeug in a daemon thread (tests only); `port` a number, or a
    ReservedPort, whose socket it serves on."""

    def __init__(self, app, port: int | ReservedPort) -> None:  # noqa: ANN001
        reserved = port if isinstance(port, ReservedPort) else None
        self.port = reserved.number if reserved else port
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True,
                                   fd=reserved.socket.fileno() if reserved else None)
        # shutdown() waits for the serving loop to look at its flag, once per poll interval: werkzeug's default
        # 0.5 s made each server's stop take up to half a second (a test with four upstream OPs, ~2 s)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "ThreadedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(5)


class IdpProcess:
    """`idp serve` (gunicorn) in a subprocess with a config file; stopped on exit."""

    def __init__(self, config_file: Path, port: int, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config_file = config_file
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "IdpProcess":
        cmd = [sys.executable, "-m", "idp", "--config", str(self.config_file), "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(self.workers)]
        import tempfile

        self.log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on a full pipe
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_up(self.url + "/.well-known/openid-configuration", self.proc, self.log)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def wait_until_up(url: str, proc: subprocess.Popen | None = None, log=None, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            output = ""
            if log is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
            raise RuntimeError(f"server exited with {proc.returncode}:\n{output}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout}s")
