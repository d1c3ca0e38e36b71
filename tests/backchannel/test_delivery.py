"""Delivering Logout Tokens: from the outbox after the commit (a slow or dead application never delays a
page), retried with back-off, then buried with a `backchannel_logout_failed` audit entry naming the client;
the queued job holds no token. Discovery advertises the feature; registration checks the address."""
from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from idp.clients import ClientError, check_backchannel_logout_uri
from idp.models import Client, OutboxJob
from idp.outbox import queue
from tests.support.configs import write_config_file
from tests.support.servers import free_port

from .conftest import SLOW_SECONDS, audit_events, check_logout_token, deliver, jobs, register, signed_in


@pytest.fixture
def config_overrides() -> dict:
    return {"outbox": {"max_attempts": 2, "retry_base_seconds": 1, "retry_max_seconds": 1}}


def _due_now(services) -> None:  # noqa: ANN001
    with services.database.session() as db:
        db.execute(sa.update(OutboxJob).values(next_attempt_at=OutboxJob.created_at))


def _wait_for_an_attempt(services, timeout: float = SLOW_SECONDS + 5) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(job.attempts and job.lease_token is None for job in jobs(services)):
            return
        time.sleep(0.1)
    raise AssertionError("the drainer did not try the job")


def _sign_out_served(app, rp) -> float:  # noqa: ANN001
    """Sign out as a served worker does it (the drainer thread delivers after the commit); seconds taken."""
    tokens = signed_in(rp)
    app.testing = False
    try:
        started = time.monotonic()
        page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
        took = time.monotonic() - started
        assert page.status == 200 and "signed out" in page.text.lower()
        _wait_for_an_attempt(rp.client.application.extensions["idp"])
    finally:
        app.extensions["idp.outbox"].stop(timeout=SLOW_SECONDS + 5)   # the delivery under way is finished first
        app.testing = True
    return took


def test_discovery_advertises_back_channel_logout(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


def test_a_slow_application_does_not_delay_the_sign_out_page(app, make_rp, receiver, alice, services):
    rp = make_rp("/slow")
    assert _sign_out_served(app, rp) < 2.0, "the page must not wait for the application"
    (job,) = jobs(services)
    assert (job.status, job.attempts) == ("pending", 1) and "did not answer in time" in job.last_error
    assert len(receiver.tokens("/slow")) == 1


def test_an_unreachable_application_is_retried_then_audited(app, make_rp, alice, services):
    rp = make_rp(f"http://127.0.0.1:{free_port()}/logout")          # nothing listens: connection refused
    assert _sign_out_served(app, rp) < 2.0
    (job,) = jobs(services)
    assert (job.status, job.attempts) == ("pending", 1) and "could not be reached" in job.last_error
    assert audit_events(services, "backchannel_logout_failed") == []
    _due_now(services)
    deliver(services)                                                # the last attempt (max_attempts = 2)
    (job,) = jobs(services)
    assert job.status == "dead" and job.payload == b""
    (entry,) = audit_events(services, "backchannel_logout_failed")
    assert entry.outcome == "failure" and entry.details["client_id"] == rp.client_id
    assert entry.target == "Back-channel app"


def test_an_application_answering_an_error_is_retried_and_then_told(make_rp, receiver, alice, services):
    rp = make_rp("/broken")
    tokens = signed_in(rp)
    rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))   # delivered inline (testing)
    (job,) = jobs(services)
    assert job.status == "pending" and "HTTP 500" in job.last_error
    with services.database.session() as db:                          # the application is fixed
        db.execute(sa.update(Client).values(backchannel_logout_uri=receiver.url + "/ok"))
    _due_now(services)
    deliver(services)
    (token,) = receiver.tokens("/ok")
    first, again = (check_logout_token(t, rp, sid=tokens["claims"]["sid"])
                    for t in (receiver.tokens("/broken")[0], token))
    assert again["jti"] != first["jti"], "each attempt sends a freshly signed Logout Token"
    assert jobs(services)[0].status == "done"


def test_the_queued_job_holds_no_token(make_rp, alice, services, app):
    rp = make_rp(f"http://127.0.0.1:{free_port()}/logout")
    tokens = signed_in(rp)
    app.testing = False               # nothing is delivered: the drainer is stopped before the request
    app.extensions["idp.outbox"].stop()
    try:
        rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    finally:
        app.testing = True
    with services.database.session() as db:
        (row,) = db.scalars(sa.select(OutboxJob))
        claimed = queue.Claimed(row.id, row.kind, row.payload, row.attempts, "")
        payload = queue.decrypt(services.kek, claimed)
    assert b"eyJ" not in row.payload
    assert payload == {"client_id": rp.client_id, "sub": tokens["claims"]["sub"], "sid": tokens["claims"]["sid"]}


def test_a_disabled_client_is_not_told(make_rp, receiver, alice, services):
    rp = make_rp()
    tokens = signed_in(rp)
    with services.database.session() as db:
        db.execute(sa.update(Client).values(is_active=False))
    rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    assert receiver.tokens() == [] and jobs(services) == []


@pytest.mark.parametrize(("uri", "error"), [
    ("/logout", "absolute"),
    ("logout.example.com/bc", "absolute"),
    ("ftp://app.example.com/bc", "absolute"),
    ("https://app.example.com/bc#frag", "fragment"),
    ("http://app.example.com/bc", "plain http"),
    ("https://app.example.com/" + "x" * 2000, "2000"),
])
def test_registration_refuses_a_bad_back_channel_logout_uri(services, uri, error):
    with pytest.raises(ClientError, match=error):
        check_backchannel_logout_uri(uri, development=False)
    with pytest.raises(ClientError, match=error):
        register(services, uri)
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(Client.id))) == 0


@pytest.mark.parametrize("uri", ["https://app.example.com/bc?tenant=1", "http://127.0.0.1:8000/bc",
                                 "http://localhost/bc", "http://[::1]:9000/bc"])
def test_registration_accepts_https_and_loopback_http(uri):
    check_backchannel_logout_uri(uri, development=False)


def test_cli_registers_a_back_channel_logout_uri(services, database_url, tmp_path, monkeypatch):
    from idp.cli import base
    import idp.cli.clients  # noqa: F401  (registers the commands)

    monkeypatch.setattr(base, "build_services", lambda _config: services)
    config = write_config_file(tmp_path / "cli.toml", database_url, "http://localhost")
    run = lambda *args: CliRunner().invoke(base.cli, ["--config", str(config), "client", "create",  # noqa: E731
                                                      "--name", "App", "--redirect-uri", "https://app.example.com/cb",
                                                      *args])
    refused = run("--backchannel-logout-uri", "http://app.example.com/bc")
    assert refused.exit_code != 0 and "plain http" in refused.output
    done = run("--backchannel-logout-uri", "https://app.example.com/bc", "--backchannel-logout-session-required")
    assert done.exit_code == 0, done.output
    with services.database.session() as db:
        (client,) = db.scalars(sa.select(Client))
        assert client.backchannel_logout_uri == "https://app.example.com/bc"
        assert client.backchannel_logout_session_required is True
