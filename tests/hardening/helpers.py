"""Shared by the production-hardening tests: sign-ins over any Browser, database snapshots, servers."""
from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

from idp.models import Base
from tests.support.browser import Browser, Page
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.servers import ROOT, wait_until_up

EMAIL = "alice@example.com"


def start(browser: Browser, rp, email: str = EMAIL, password: str = PASSWORD) -> tuple[Page, str]:  # noqa: ANN001
    """Authorize, then the password step: the page after it and the PKCE verifier."""
    verifier, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    assert page.status == 200 and 'name="password"' in page.text, page.text[:2000]
    return browser.sign_in(page, email, password), verifier


def at_the_code_page(app, rp, email: str = EMAIL) -> tuple:  # noqa: ANN001
    """A new browser past the password, at the authenticator-app page: its test client, the code form's fields,
    and the browser's cookie from before the password (it names no user: for replaying)."""
    client = app.test_client()
    browser = Browser(client=client)
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    before_password = client.get_cookie("idp_session").value
    page = browser.sign_in(page, email, PASSWORD)
    assert 'name="code"' in page.text, page.text[:2000]
    return client, dict(page.form("code").fields), before_password


def basic(rp) -> dict[str, str]:  # noqa: ANN001
    token = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def signed_in(page: Page, rp) -> bool:  # noqa: ANN001
    return bool(page.location and page.location.startswith(rp.redirect_uri) and "code=" in page.location)


def snapshot(services, skip: tuple[str, ...] = ("rate_limit_bucket",)) -> dict[str, list[tuple]]:  # noqa: ANN001
    """Every row of every table (but `skip`), to prove that a request changed nothing."""
    rows: dict[str, list[tuple]] = {}
    with services.database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows[table.name] = sorted((tuple(repr(v) for v in row) for row in conn.execute(sa.select(table))))
        conn.rollback()
    return rows


def bucket_total(services) -> int:  # noqa: ANN001
    with services.database.engine.connect() as conn:
        total = conn.execute(sa.text("SELECT COALESCE(SUM(count), 0) FROM rate_limit_bucket")).scalar()
        conn.rollback()
    return int(total)


class LoggedIdpProcess:
    """`idp serve` like tests.support.servers.IdpProcess, but its output goes to a file (a pipe nobody
    reads fills up under load and stalls the server) that tests can read; IDP_KEEP_SERVER_LOGS=1 keeps it."""

    def __init__(self, config_file: Path, port: int, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config_file = config_file
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_file = Path(tempfile.mkstemp(prefix="idp-serve-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None
        self._stopping = False

    def start(self) -> "LoggedIdpProcess":
        cmd = [sys.executable, "-m", "idp", "--config", str(self.config_file), "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(self.workers)]
        self._out = self.log_file.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._out, stderr=subprocess.STDOUT)
        return self

    def wait(self) -> "LoggedIdpProcess":
        try:
            wait_until_up(self.url + "/healthz", self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.output()[-4000:]}") from None
        return self

    def __enter__(self) -> "LoggedIdpProcess":
        return self.start().wait()

    def output(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        """Ask gunicorn to stop (graceful); `__exit__` waits for it."""
        if self.proc and self.proc.poll() is None and not self._stopping:
            self._stopping = True
            self.proc.send_signal(signal.SIGTERM)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()
        if os.environ.get("IDP_KEEP_SERVER_LOGS") != "1":
            self.log_file.unlink(missing_ok=True)


@contextlib.contextmanager
def running(*servers: LoggedIdpProcess):  # noqa: ANN201
    """Start every server at once (their start-ups overlap), wait for all, stop all at the end."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait()
        yield servers
    finally:
        for server in servers:
            server.stop()
        for server in servers:
            if server.proc is not None:
                server.__exit__(None, None, None)


def http_sign_in(http, first: str, second: str, rp, email: str, password: str = PASSWORD,  # noqa: ANN001
                 totp_secret: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> tuple[Page, str]:
    """A sign-in over real HTTP: the authorization request on server `first`, every form post on `second`
    (as a load balancer may do). Returns the last page and the PKCE verifier; a TOTP step is answered with
    `code`, or the current code of `totp_secret`."""
    import pyotp

    verifier, challenge = pkce_pair()
    on_first = Browser(http=http, base=first)
    on_second = Browser(http=http, base=second)
    if headers:
        http.headers.update(headers)
    page = on_first.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    if page.status != 200 or 'name="password"' not in page.text:
        return page, verifier
    page.url = second + "/login"
    page = on_second.sign_in(page, email, password)
    if page.status == 200 and 'name="code"' in page.text and (code or totp_secret):
        page = on_second.submit(page, "code", {"code": code or pyotp.TOTP(totp_secret).now()})
    return page, verifier


def exchange(http, server: str, rp, page: Page, verifier: str):  # noqa: ANN001, ANN201
    return http.post(server + "/token", headers=basic(rp), data={
        "grant_type": "authorization_code", "code": page.query["code"], "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier})
