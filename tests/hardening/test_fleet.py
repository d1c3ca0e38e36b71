"""A fleet: two `idp serve` processes on one PostgreSQL (sign-ins alternate between them, rate limits and
single-use codes hold across them), and one server with several workers (metrics added up, JSON logs)."""
from __future__ import annotations

import json
import time
import uuid

import httpx
import pyotp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.configs import write_config_file
from tests.support.factors import enrol_totp, give_recovery_codes
from tests.support.factory import PASSWORD
from tests.support.servers import free_port

from .helpers import LoggedIdpProcess, exchange, http_sign_in, running, signed_in
from .test_rate_limits import REDIS_URL, redis_available


def _servers(tmp_path, database_url: str, count: int, workers: int = 1, **overrides):  # noqa: ANN001, ANN003, ANN202
    ports = [free_port() for _ in range(count)]
    issuer = f"http://127.0.0.1:{ports[0]}"   # all of them behind one public address in production
    config_file = write_config_file(tmp_path / f"config-{uuid.uuid4().hex[:6]}.toml", database_url, issuer,
                                    **overrides)
    return [LoggedIdpProcess(config_file, port, workers=workers) for port in ports]


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


@pytest.fixture(scope="module")
def fleet_database(pg_database) -> str:  # noqa: ANN001
    if pg_database is None:
        pytest.skip("several server processes share one database only on PostgreSQL")
    return pg_database.url


@pytest.fixture(scope="module")
def pair(fleet_database, tmp_path_factory):  # noqa: ANN001, ANN201
    """Two servers for the whole module (starting them is the slow part); each test still gets a clean
    database (the conftest truncates the tables, the servers keep running)."""
    servers = _servers(tmp_path_factory.mktemp("fleet"), fleet_database, 2,
                       rate_limit={"login_per_account": "3/minute"})
    with running(*servers):
        yield servers


@pytest.fixture(scope="module")
def redis_pair(fleet_database, tmp_path_factory):  # noqa: ANN001, ANN201
    if not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    servers = _servers(tmp_path_factory.mktemp("fleet-redis"), fleet_database, 2,
                       rate_limit={"login_per_account": "3/minute", "redis_url": REDIS_URL})
    with running(*servers):
        yield servers


@pytest.fixture(params=["database", "redis"])
def two_servers(request, database_url):  # noqa: ANN001, ANN201
    """Both limiter backends for the rate-limit test; `database_url` first: the tables are clean."""
    return request.getfixturevalue("pair" if request.param == "database" else "redis_pair")


def test_sign_ins_alternate_between_the_servers(pair, factory, rp, services):
    a, b = pair
    for i in range(4):
        factory.user(f"user{i}@example.com")
    secret = enrol_totp(services, "user3@example.com")
    with httpx.Client(timeout=20) as http:
        for i in range(4):
            first, second = (a, b) if i % 2 == 0 else (b, a)
            page, verifier = http_sign_in(http, first.url, second.url, rp, f"user{i}@example.com",
                                          totp_secret=secret if i == 3 else None)
            assert signed_in(page, rp), page.text[:1000]
            token = exchange(http, first.url, rp, page, verifier)
            assert token.status_code == 200, token.text
            http.cookies.clear()


def _clear_of_a_window_edge(seconds: int = 60, margin: float = 20.0) -> None:
    """Start in a fresh part of a fixed rate-limit window: tries that straddle its end are counted in two
    windows, and the one over the limit would not be refused."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.5)


def test_a_rate_limit_reached_on_one_server_holds_on_the_other(two_servers, factory, rp):
    a, b = two_servers
    email = f"limited-{uuid.uuid4().hex[:8]}@example.com"   # Redis counters outlive the test database
    factory.user(email)
    _clear_of_a_window_edge()                                 # "3/minute": the five sign-ins in one window
    with httpx.Client(timeout=20) as http:
        for i in range(3):
            server = (a, b)[i % 2]
            page, _ = http_sign_in(http, server.url, server.url, rp, email, password="wrong")
            assert page.status == 200 and "not correct" in page.text
            http.cookies.clear()
        page, _ = http_sign_in(http, b.url, b.url, rp, email)           # right password, one too many
        assert page.status == 429 and "Too many attempts" in page.text
        http.cookies.clear()
        page, _ = http_sign_in(http, a.url, a.url, rp, email)
        assert page.status == 429 and int(page.text.count("Too many attempts")) >= 1


class TestSingleUseAcrossServers:
    def test_a_totp_code_used_on_one_server_is_refused_on_the_other(self, pair, factory, rp, services):
        a, b = pair
        factory.user("alice@example.com")
        secret = enrol_totp(services, "alice@example.com")
        totp = pyotp.TOTP(secret)
        if 30 - time.time() % 30 < 3:
            time.sleep(3.5)    # not at the very end of a time step: both tries get the same code
        code = totp.now()
        with httpx.Client(timeout=20) as http:
            page, _ = http_sign_in(http, a.url, a.url, rp, "alice@example.com", code=code)
            assert signed_in(page, rp), page.text[:1000]
            http.cookies.clear()
            page, _ = http_sign_in(http, b.url, b.url, rp, "alice@example.com", code=code)
            assert page.status == 200 and "already used" in page.text

    def test_a_recovery_code_used_on_one_server_is_refused_on_the_other(self, pair, factory, rp, services):
        a, b = pair
        factory.user("alice@example.com")
        enrol_totp(services, "alice@example.com")
        code = give_recovery_codes(services, "alice@example.com")[0]
        from tests.support.browser import Browser
        with httpx.Client(timeout=20) as http:
            results = []
            for server in (a, b):
                page, _ = http_sign_in(http, server.url, server.url, rp, "alice@example.com")
                browser = Browser(http=http, base=server.url)
                page = browser.choose(page, "Use a recovery code instead")
                page = browser.submit(page, "code", {"code": code})
                if "You signed in with a recovery code" in page.text:   # the notice before returning to the app
                    page = browser.submit(page, "resume", {})
                results.append(page)
                http.cookies.clear()
            assert signed_in(results[0], rp)
            assert "already used" in results[1].text and not signed_in(results[1], rp)


# --------------------------------------------------------------------------- one server, several workers

def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_workers_add_up_their_metrics_and_log_json_without_secrets(tmp_path, database_url, services, factory, rp):
    """`idp serve --workers 2`: /metrics answered by any worker shows every worker's counts; the log is
    one JSON object per line with request ids, and no password, code or token in it."""
    (server,) = _servers(tmp_path, database_url, 1, workers=2, logging={"format": "json"})
    factory.user("alice@example.com")
    with server, httpx.Client(timeout=20) as http:
        start = _metric(http.get(server.url + "/metrics").text, "idp_http_requests_total",
                        endpoint="observability_healthz", status="200")
        for _ in range(30):
            response = http.get(server.url + "/healthz")
            assert response.status_code == 200
        page, verifier = http_sign_in(http, server.url, server.url, rp, "alice@example.com")
        assert signed_in(page, rp)
        token = exchange(http, server.url, rp, page, verifier).json()
        totals = {_metric(http.get(server.url + "/metrics").text, "idp_http_requests_total",
                          endpoint="observability_healthz", status="200") for _ in range(6)}
        assert totals == {start + 30}      # whichever worker answers
        text = http.get(server.url + "/metrics").text
        assert _metric(text, "idp_sign_ins_total", outcome="success", method="pwd") == 1
        assert _metric(text, "idp_tokens_issued_total", grant_type="authorization_code") == 1
        time.sleep(0.3)
        output = server.output()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    pids = {line["message"].rsplit(" ", 1)[-1] for line in lines if "Booting worker" in line["message"]}
    assert len(pids) == 2
    access = [line for line in lines if line["logger"] == "idp.access"]
    assert any(line["http"]["endpoint"] == "login.submit" and line["http"]["status"] == 302 for line in access)
    assert all(len(line["request_id"]) == 32 for line in access)
    for secret_value in (PASSWORD, page.query["code"], verifier, rp.secret, token["access_token"]):
        assert secret_value not in output
