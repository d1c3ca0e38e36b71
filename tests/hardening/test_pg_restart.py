"""PostgreSQL stopped and restarted under two running `idp serve` processes.

While the database is down every request that needs it gets a readable 503 page (JSON health says why),
/healthz stays 200; once it is back both servers serve again WITHOUT being restarted (pooled connections are
pre-pinged and replaced). Afterwards: no half-enrolled factor, no lost or extra audit entry, chains intact.

This restarts the machine's only PostgreSQL cluster, so it runs only when asked:

    IDP_TEST_PG_RESTART=1 IDP_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m pytest -m pg_restart tests/hardening/test_pg_restart.py

(`make test` never sets IDP_TEST_PG_RESTART; without it the test is skipped.) It is also skipped while other
databases of the cluster have open connections (another test run, a service), unless
IDP_TEST_PG_RESTART_FORCE=1. Whatever happens, the cluster is started again at the end (fixture teardown,
and an atexit hook as a last resort).
"""
from __future__ import annotations

import atexit
import os
import re
import subprocess
import threading
import time

import httpx
import pyotp
import pytest
import sqlalchemy as sa

from idp import audit
from idp.models import AuditEvent, RecoveryCode, SecondFactor, User
from tests.support.browser import Browser
from tests.support.configs import write_config_file
from tests.support.servers import free_port

from .helpers import LoggedIdpProcess, exchange, http_sign_in, running, signed_in

pytestmark = [
    pytest.mark.pg_restart,
    pytest.mark.skipif(os.environ.get("IDP_TEST_PG_RESTART") != "1",
                       reason="restarts the machine's PostgreSQL: run with IDP_TEST_PG_RESTART=1 (see the module doc)"),
]
USERS = [f"user{i}@example.com" for i in range(6)]
UNLIMITED = {"login_per_ip": "100000/minute", "login_per_account": "100000/minute",
             "second_factor_per_ip": "100000/minute", "token_per_ip": "100000/minute",
             "authorize_per_ip": "100000/minute"}


def _cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def _is_up() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False).returncode == 0


def _wait(up: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _is_up() == up:
            return
        time.sleep(0.2)
    raise AssertionError(f"PostgreSQL did not {'start' if up else 'stop'} within {timeout}s")


def pg(action: str) -> None:
    subprocess.run([*_cluster(), action, *(["-m", "fast"] if action in ("stop", "restart") else [])],
                   check=True, capture_output=True, timeout=60)


def ensure_running() -> None:
    if not _is_up():
        subprocess.run([*_cluster(), "start"], check=False, capture_output=True, timeout=60)
        _wait(True)


def _other_users(own_database: str) -> list[str]:
    """Databases other than ours with open connections: someone else's test run or service uses the
    cluster, and a restart would fail their work."""
    admin = sa.create_engine(sa.make_url(os.environ["IDP_TEST_DATABASE_URL"]).set(database="postgres"))
    try:
        with admin.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT DISTINCT datname FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> :own "
                "AND datname <> 'postgres' AND pid <> pg_backend_pid()"), {"own": own_database}).scalars().all()
    finally:
        admin.dispose()
    return list(rows)


@pytest.fixture
def pg_cluster(is_postgres, pg_database):  # noqa: ANN001, ANN201
    if not is_postgres:
        pytest.skip("needs PostgreSQL (IDP_TEST_DATABASE_URL)")
    others = _other_users(pg_database.name)
    if others and os.environ.get("IDP_TEST_PG_RESTART_FORCE") != "1":
        pytest.skip(f"other databases are in use on this PostgreSQL ({', '.join(sorted(others))}); not restarting "
                    "it under them (IDP_TEST_PG_RESTART_FORCE=1 to do it anyway)")
    atexit.register(ensure_running)
    try:
        yield
    finally:
        ensure_running()


def _enrol_start(http: httpx.Client, server: str) -> tuple[str, str, dict]:
    """Profile > Security > Authenticator App, up to the QR code: (confirm URL, secret, form fields)."""
    browser = Browser(http=http, base=server)
    page = browser.open("/account/security/enable")
    assert page.status == 200, page.text[:500]
    page = _post_form(browser, page, "/account/security/enable/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    form = page.form("code")
    return server + form.action, secret, form.fields


def _post_form(browser: Browser, page, action: str):  # noqa: ANN001, ANN202
    from tests.support.forms import forms
    form = next(f for f in forms(page.text) if f.action == action)
    return browser.open(action, "POST", form.fields)


def test_servers_survive_a_postgresql_restart(pg_cluster, tmp_path, database_url, services, factory, rp_factory):
    for email in USERS + ["enrol@example.com"]:
        factory.user(email)
    rp = rp_factory()
    ports = [free_port(), free_port()]
    config_file = write_config_file(tmp_path / "config.toml", database_url, f"http://127.0.0.1:{ports[0]}",
                                    rate_limit=UNLIMITED)
    a, b = LoggedIdpProcess(config_file, ports[0]), LoggedIdpProcess(config_file, ports[1])
    outcomes: list[tuple[str, int, str]] = []
    with running(a, b), httpx.Client(timeout=30) as http:
        # warm up: both servers have pooled connections now
        for i, (first, second) in enumerate(((a, b), (b, a))):
            page, _ = http_sign_in(http, first.url, second.url, rp, USERS[i])
            assert signed_in(page, rp)
            outcomes.append(("warm", 302, USERS[i]))
            http.cookies.clear()
        # a person half-way through setting up an authenticator app
        enrol = httpx.Client(timeout=30)
        page, _ = http_sign_in(enrol, a.url, a.url, rp, "enrol@example.com")
        assert signed_in(page, rp)
        confirm_url, secret, fields = _enrol_start(enrol, a.url)

        # ---- the database goes away
        pg("stop")
        _wait(False)
        for server in (a, b):
            ready = http.get(server.url + "/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unreachable")
            assert http.get(server.url + "/healthz").status_code == 200
            down = http.get(server.url + f"/authorize?client_id={rp.client_id}&redirect_uri={rp.redirect_uri}"
                                         "&response_type=code&scope=openid&code_challenge=" + "x" * 43 +
                                         "&code_challenge_method=S256")
            assert down.status_code == 503 and "Temporarily unavailable" in down.text, down.text[:500]
            assert "Nothing was changed" in down.text
        refused = enrol.post(confirm_url.replace(a.url, b.url), data={**fields, "code": pyotp.TOTP(secret).now()})
        assert refused.status_code == 503
        pg("start")
        _wait(True)

        # ---- back, without restarting the servers
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(
                http.get(s.url + "/readyz").status_code == 200 for s in (a, b)):
            time.sleep(0.2)
        for server in (a, b):
            assert http.get(server.url + "/readyz").status_code == 200
        confirmed = enrol.post(confirm_url, data={**fields, "code": pyotp.TOTP(secret).now()})
        assert confirmed.status_code == 200 and "recovery" in confirmed.text.lower(), confirmed.text[:800]
        enrol.close()

        # ---- a restart in the middle of continuous sign-ins on both servers
        stop = threading.Event()

        def sign_ins(index: int) -> None:
            with httpx.Client(timeout=30) as own:
                n = 0
                while not stop.is_set():
                    email = USERS[(index * 3 + n) % len(USERS)]
                    first, second = (a, b) if n % 2 == 0 else (b, a)
                    try:
                        page, verifier = http_sign_in(own, first.url, second.url, rp, email)
                    except httpx.HTTPError as exc:
                        outcomes.append(("error", 0, f"{type(exc).__name__}"))
                    else:
                        outcomes.append(("loop", page.status if not signed_in(page, rp) else 302,
                                         email if signed_in(page, rp) else page.text[:300]))
                        if signed_in(page, rp):
                            token = exchange(own, second.url, rp, page, verifier)
                            outcomes.append(("token", token.status_code, token.text[:300]))
                    own.cookies.clear()
                    n += 1

        threads = [threading.Thread(target=sign_ins, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(2)
        pg("restart")
        _wait(True)
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(60)
        for server in (a, b):
            page, _ = http_sign_in(http, server.url, server.url, rp, USERS[0])
            assert signed_in(page, rp), page.text[:500]
            outcomes.append(("after", 302, USERS[0]))
            http.cookies.clear()

    loop = [o for o in outcomes if o[0] == "loop"]
    assert loop and not [o for o in outcomes if o[0] == "error"], outcomes
    assert {status for _, status, _ in loop} <= {302, 503}, [o for o in loop if o[1] not in (302, 503)]
    assert all("Temporarily unavailable" in text for _, status, text in loop if status == 503)
    assert {status for kind, status, _ in outcomes if kind == "token"} <= {200, 503}, outcomes
    successes = [o for o in outcomes if o[1] == 302]
    with services.database.session() as db:
        # no lost (and no invented) audit entry: one `sign_in` per sign-in that reached the application
        signed = db.scalar(sa.select(sa.func.count()).where(AuditEvent.event == "sign_in",
                                                             AuditEvent.outcome == "success"))
        assert signed == len(successes) + 1  # + the enrolment user's own sign-in
        for chain in audit.chains(db):
            result = audit.verify(db, chain)
            assert result.intact, result.problem
        # no half-enrolled factor: every confirmed factor is audited, has recovery codes, one per kind
        user = db.scalar(sa.select(User).where(User.email == "enrol@example.com"))
        factors = list(db.scalars(sa.select(SecondFactor).where(SecondFactor.user_id == user.id)))
        assert [(f.kind, f.confirmed_at is not None) for f in factors] == [("totp", True)]
        enrolled = db.scalars(sa.select(AuditEvent).where(AuditEvent.event == "second_factor_enrolled")).all()
        assert [e.details["factor_id"] for e in enrolled] == [factors[0].id]
        assert db.scalar(sa.select(sa.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id)) > 0
    print(f"\nsign-ins in the restart loop: {len(loop)}, refused with 503: "
          f"{sum(1 for o in loop if o[1] == 503)}")


@pytest.fixture
def rp_factory(factory):  # noqa: ANN001, ANN201
    return factory.client
