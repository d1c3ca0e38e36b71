"""/healthz, /readyz, /metrics (Prometheus), request ids and structured logs without secrets."""
from __future__ import annotations

import json
import logging
import traceback

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from idp.models import SigningKey
from idp.oauth.keys import KeyRing
from idp.web.observability.logging import JsonFormatter, RequestContextFilter, redact, scrub
from tests.support.browser import Browser
from tests.support.factors import code_at, enrol_totp
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair

from .helpers import EMAIL, basic, signed_in, start


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


def samples(client) -> dict[tuple, float]:  # noqa: ANN001
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


# --------------------------------------------------------------------------- health

def test_healthz_needs_nothing(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_when_everything_is_there(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "signing_keys": "ok",
                                                                   "policy": "ok", "rate_limit": "ok"}}


def test_readyz_without_database(app, services, monkeypatch):
    dead = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    monkeypatch.setattr(services.database, "engine", dead)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready" and body["checks"]["database"] == "unreachable (OperationalError)"
    assert "database: unreachable (OperationalError)" in body["problems"]
    assert app.test_client().get("/healthz").status_code == 200   # alive, just not ready


def test_readyz_without_signing_key(app, services):
    with services.database.session() as db:
        db.execute(sa.update(SigningKey).where(SigningKey.alg == "RS256").values(retired_at=sa.func.now()))
    services.keys = KeyRing(services.kek)   # a fresh process's cache
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["signing_keys"].startswith("no active signing key")


def test_readyz_with_a_policy_binding_to_a_missing_flow(app, services, monkeypatch):
    import dataclasses
    policy = dataclasses.replace(services.config.policy, default_flow="nope")
    monkeypatch.setattr(services, "config", dataclasses.replace(services.config, policy=policy))
    body = app.test_client().get("/readyz").get_json()
    assert body["status"] == "not ready" and "no policy file nope.toml" in body["checks"]["policy"]


# --------------------------------------------------------------------------- metrics

def test_metrics_count_sign_ins_tokens_latency_and_rate_limits(app, factory, rp, services, frozen_clock):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    client = app.test_client()
    before = samples(client)
    browser = Browser(client=client)
    page, verifier = start(browser, rp, password="wrong password")
    page = browser.sign_in(page, EMAIL, PASSWORD)
    done = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert signed_in(done, rp)
    token = client.post("/token", headers=basic(rp), data={
        "grant_type": "authorization_code", "code": done.query["code"], "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier})
    assert token.status_code == 200
    after = samples(client)
    delta = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    assert delta("idp_sign_ins_total", outcome="success", method="mfa+otp+pwd") == 1
    assert delta("idp_sign_ins_total", outcome="retry", method="password") == 1
    assert delta("idp_tokens_issued_total", grant_type="authorization_code") == 1
    # the wrong password and the right one are answered with a page (the password again, then the code's)
    assert delta("idp_http_requests_total", endpoint="login.submit", method="POST", status="200") == 2
    assert delta("idp_http_requests_total", endpoint="login.submit", method="POST", status="302") == 1
    assert delta("idp_http_request_duration_seconds_count", endpoint="login.submit", method="POST") == 3
    assert delta("idp_http_request_duration_seconds_bucket", endpoint="oauth.token", method="POST", le="+Inf") == 1
    # one sign-in refused by the limiter: counted by rule and scope
    limiter_before = value(after, "idp_rate_limit_hits_total", rule="login", scope="account")
    other = Browser(client=app.test_client())
    page = other.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    statuses = []
    for _ in range(21):
        page_or_refusal = other.sign_in(page, "nobody@example.com", "x")
        statuses.append(page_or_refusal.status)
        if page_or_refusal.status == 403:   # the sign-in stops after 5 failures: start another
            page = other.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    assert statuses[-1] == 429
    assert value(samples(client), "idp_rate_limit_hits_total", rule="login", scope="account") == limiter_before + 1


def test_a_rolled_back_sign_in_counts_nothing(app, services):
    """Sign-ins are counted from their audit entries only when the transaction commits."""
    from idp import audit
    from idp.web.observability import metrics
    before = value(samples(app.test_client()), "idp_sign_ins_total", outcome="success", method="pwd")
    with pytest.raises(RuntimeError), services.database.session() as db:
        audit.record(db, "sign_in", audit.Actor("user:x"), organisation_id=None, details={"amr": ["pwd"]})
        raise RuntimeError("rolled back")
    with services.database.session() as db:
        audit.record(db, "sign_in", audit.Actor("user:x"), organisation_id=None, details={"amr": ["pwd"]})
    after = value(samples(app.test_client()), "idp_sign_ins_total", outcome="success", method="pwd")
    assert after == before + 1
    assert metrics.sign_in_label("sign_in", "failure", {}) == ("failed", "-")


# --------------------------------------------------------------------------- request ids and logs

def test_request_id_is_generated_or_honoured(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert client.get("/healthz").headers["X-Request-ID"] != generated
    assert client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"}).headers["X-Request-ID"] == "lb-7f3a.42"
    for bad in ("two words", "x" * 129, "a;b", "<script>"):
        echoed = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert echoed != bad and len(echoed) == 32
    # early answers (CSRF refusal, 404) carry one too
    assert len(client.post("/login/choose").headers["X-Request-ID"]) == 32
    assert len(client.get("/nowhere").headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("text, expected", [
    ("password=hunter2 and more", "password=[redacted] and more"),
    ("client_secret: s3cr3t, next", "client_secret: [redacted], next"),
    ("code=123456&state=x", "code=[redacted]&state=x"),
    ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer [redacted]"),
    ("basic dXNlcjpwYXNz", "basic [redacted]"),
    ("refresh_token='abc def'", "refresh_token=[redacted]"),
    ("sms code for user 5 not delivered", "sms code for user 5 not delivered"),
])
def test_redaction(text, expected):
    assert redact(text) == expected


def test_structured_extras_lose_secret_keys():
    assert scrub({"user": 5, "password": "x", "nested": {"client_secret": "y", "ok": "code=1"}}) == {
        "user": 5, "password": "[redacted]", "nested": {"client_secret": "[redacted]", "ok": "code=[redacted]"}}
    record = logging.LogRecord("idp.x", logging.INFO, __file__, 1, "login for %s with password=%s", ("a", "pw!"),
                               None)
    record.totp_code = "123456"
    RequestContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "login for a with password=[redacted]" and line["totp_code"] == "[redacted]"
    assert line["request_id"] == "-" and line["level"] == "INFO" and line["logger"] == "idp.x"


class TestJsonLogs:
    @pytest.fixture
    def config_overrides(self):  # noqa: ANN201
        return {"logging": {"format": "json", "level": "DEBUG"}}

    def test_a_whole_sign_in_logs_json_with_request_ids_and_no_secret(self, app, factory, rp, services,
                                                                      frozen_clock):
        import io

        from idp.web.observability.logging import configure
        handler = next(h for h in logging.getLogger("idp").handlers if getattr(h, "_idp_handler", False))
        assert isinstance(handler.formatter, JsonFormatter)     # what [logging] format = "json" set up
        stream = io.StringIO()
        configure("json", "DEBUG", stream)                      # the same, into a buffer we can read
        factory.user(EMAIL)
        secret = enrol_totp(services, EMAIL)
        client = app.test_client()
        browser = Browser(client=client)
        page, verifier = start(browser, rp, password="wrong password")
        page = browser.sign_in(page, EMAIL, PASSWORD)
        code = code_at(secret, frozen_clock)
        done = browser.submit(page, "code", {"code": code})
        token = client.post("/token", headers={**basic(rp), "X-Request-ID": "rp-call-1"}, data={
            "grant_type": "authorization_code", "code": done.query["code"], "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier}).get_json()
        client.post("/introspect", headers=basic(rp), data={"token": token["access_token"]})
        client.get("/authorize?login_hint=alice@example.com&client_id=x&redirect_uri=http://a/b")
        output = stream.getvalue()
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert len(lines) >= 7
        access = [line for line in lines if line["logger"] == "idp.access"]
        assert {"method", "path", "endpoint", "status", "duration_ms", "client_ip"} <= set(access[0]["http"])
        assert any(line["request_id"] == "rp-call-1" and line["http"]["endpoint"] == "oauth.token" for line in access)
        for secret_value in (PASSWORD, "wrong password", secret, code, done.query["code"], verifier, rp.secret,
                             token["access_token"], token["id_token"], "login_hint"):
            assert secret_value not in output, secret_value


# --------------------------------------------------------------------------- database down (in process)

def test_database_down_gives_readable_503s_even_when_signed_in(app, factory, rp, monkeypatch, services):
    """The error page must not itself need the database (a signed-in menu), nor commit on a dead
    connection; back-channel endpoints answer JSON. (The real restart: test_pg_restart.py.)"""
    from sqlalchemy.orm import sessionmaker
    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    done, _ = start(browser, rp)
    assert signed_in(done, rp)
    dead = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    monkeypatch.setattr(services.database, "engine", dead)
    monkeypatch.setattr(services.database, "sessions", sessionmaker(dead, expire_on_commit=False))
    page = browser.client.get("/account/security")
    assert page.status_code == 503 and "Temporarily unavailable" in page.get_data(as_text=True)
    assert page.headers["Retry-After"] == "30"
    token = browser.client.post("/token", data={"grant_type": "authorization_code"}, headers=basic(rp))
    assert token.status_code == 503 and token.get_json()["error"] == "temporarily_unavailable"
    assert browser.client.get("/healthz").status_code == 200
    assert browser.client.get("/readyz").status_code == 503


def test_a_commit_that_loses_the_database_gives_the_same_503(app, factory, rp, monkeypatch, services):
    """The database goes away between a request's last statement and its COMMIT (an after-request hook;
    seen in test_pg_restart.py as a 500 "Something went wrong"): the same 503 as any other outage, a page for
    people and JSON on the back channel."""
    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    dialect = services.database.engine.dialect

    original = dialect.do_commit

    def lost(dbapi_connection) -> None:  # noqa: ANN001
        if not any(frame.name == "_commit" and frame.filename.endswith("context.py")
                   for frame in traceback.extract_stack()):
            return original(dbapi_connection)              # earlier commits (the rate-limit counts) go through
        dbapi_connection.rollback()                        # the server kept nothing
        raise dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(dialect, "do_commit", lost)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)   # as served: Flask answers, not the test
    page = browser.client.get(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and "Temporarily unavailable" in text and "Nothing was changed" in text
    token = browser.client.post("/token", data={"grant_type": "authorization_code", "code": "x"},
                                headers=basic(rp))
    assert token.status_code == 503 and token.get_json()["error"] == "temporarily_unavailable"
