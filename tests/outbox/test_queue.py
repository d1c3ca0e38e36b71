"""The outbound job queue (idp.outbox) against the real database: nothing is sent for a rolled-back transaction,
payloads are encrypted, a failed delivery is retried with back-off (no secret in the error or the log), a job
is buried after max_attempts (logged, audited, listed), several drainers deliver each job exactly once, a lease
left by a dead worker expires, and an HTTP POST job reaches its receiver."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from werkzeug.wrappers import Request, Response

from idp import audit, outbox
from idp.delivery import DeliveryError
from idp.models import AuditEvent, OutboxJob
from idp.outbox import queue
from idp.outbox.worker import drain
from tests.support.configs import write_config_file
from tests.support.servers import ThreadedServer, free_port

SECRET = "https://idp.example/reset-password/sEcReT-tOkEn-123"


@dataclass
class Recorder:
    """A mailer that keeps what it sends (thread-safe), or fails while `down`."""

    enabled: bool = True
    down: bool = False
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, to: str, subject: str, body: str) -> None:
        if self.down:
            raise DeliveryError("the mail server did not accept the message (ConnectionRefusedError)")
        with self.lock:
            self.sent.append((to, subject, body))


@pytest.fixture
def mailer(services) -> Recorder:  # noqa: ANN001
    services.mailer = Recorder()
    return services.mailer


@pytest.fixture
def config_overrides() -> dict:
    return {"outbox": {"max_attempts": 3, "retry_base_seconds": 30, "lease_seconds": 60}}


def mail(services, to: str = "alice@example.com", body: str = SECRET) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return outbox.enqueue(db, services.kek, "email", {"to": to, "subject": "Hello", "body": body}).id


def job(services, job_id: int) -> OutboxJob:  # noqa: ANN001
    with services.database.session() as db:
        return db.get(OutboxJob, job_id)


def test_a_rolled_back_transaction_sends_nothing(services, mailer):  # noqa: ANN001
    db = services.database.sessions()
    outbox.enqueue(db, services.kek, "email", {"to": "a@example.com", "subject": "s", "body": SECRET})
    db.rollback()
    db.close()
    assert drain(services).total == 0 and mailer.sent == []
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(OutboxJob.id))) == 0


def test_payload_is_encrypted_and_erased_once_sent(services, mailer):  # noqa: ANN001
    job_id = mail(services)
    stored = job(services, job_id).payload
    assert SECRET.encode() not in stored and b"alice@example.com" not in stored
    assert drain(services).sent == 1 and mailer.sent == [("alice@example.com", "Hello", SECRET)]
    done = job(services, job_id)
    assert (done.status, done.payload, done.attempts) == ("done", b"", 1)
    assert drain(services).total == 0 and len(mailer.sent) == 1     # never sent twice


def test_an_unknown_kind_is_refused_when_queued(services):  # noqa: ANN001
    with pytest.raises(LookupError), services.database.session() as db:
        outbox.enqueue(db, services.kek, "carrier_pigeon", {})
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(OutboxJob.id))) == 0


def test_failures_are_retried_with_back_off_then_buried(services, mailer, frozen_clock, caplog):  # noqa: ANN001
    mailer.down = True
    job_id = mail(services)
    with caplog.at_level(logging.INFO):
        assert drain(services).retried == 1
        first = job(services, job_id)
        assert first.status == "pending" and first.attempts == 1
        assert first.next_attempt_at == frozen_clock.current + timedelta(seconds=30)
        assert "ConnectionRefusedError" in first.last_error and "sEcReT" not in first.last_error
        assert drain(services).total == 0                         # not due yet
        frozen_clock.advance(seconds=30)
        assert drain(services).retried == 1
        assert job(services, job_id).next_attempt_at == frozen_clock.current + timedelta(seconds=60)
        frozen_clock.advance(seconds=60)
        assert drain(services).dead == 1
    dead = job(services, job_id)
    assert (dead.status, dead.attempts, dead.payload) == ("dead", 3, b"")
    assert "sEcReT" not in caplog.text and "is dead after 3 attempt(s)" in caplog.text
    with services.database.session() as db:
        entry = db.scalar(sa.select(AuditEvent).where(AuditEvent.event == "outbox_job_dead"))
        assert entry is not None and entry.outcome == "failure" and entry.details["kind"] == "email"
        assert all(audit.verify(db, chain).intact for chain in audit.chains(db))
    frozen_clock.advance(hours=1)
    mailer.down = False
    assert drain(services).total == 0 and mailer.sent == []         # a dead job stays dead


def test_several_drainers_deliver_each_job_exactly_once(services, mailer):  # noqa: ANN001
    for n in range(30):
        mail(services, to=f"user{n}@example.com", body=f"message {n}")
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        drain(services)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(to for to, _, _ in mailer.sent) == sorted(f"user{n}@example.com" for n in range(30))
    with services.database.session() as db:
        assert queue.counts(db) == {"done": 30}


def test_a_lease_left_by_a_dead_worker_expires(services, mailer, frozen_clock):  # noqa: ANN001
    job_id = mail(services)
    with services.database.session() as db:
        (held,) = queue.claim(db, services.config.outbox)        # this worker then dies mid-delivery
    assert drain(services).total == 0                            # leased: nobody else takes it
    frozen_clock.advance(seconds=61)
    assert drain(services).sent == 1 and len(mailer.sent) == 1
    with services.database.session() as db:
        assert queue.finish(db, held) is False                   # the late worker cannot overwrite the result
    assert job(services, job_id).attempts == 2


def test_an_http_post_job_reaches_its_receiver(services):  # noqa: ANN001
    received: list[dict] = []

    @Request.application
    def receiver(request: Request) -> Response:
        received.append(dict(request.form))
        return Response("", status=200 if len(received) > 1 else 503)
    with ThreadedServer(receiver, free_port()) as server, services.database.session() as db:
        outbox.enqueue(db, services.kek, "http_post", {"url": f"{server.url}/backchannel", "form": {"logout_token": "t"},
                                                       "timeout": 2})
    with ThreadedServer(receiver, server.port):
        first = drain(services)
        assert first.retried == 1                                    # HTTP 503: tried again later
    with services.database.session() as db:
        assert "HTTP 503" in db.scalar(sa.select(OutboxJob.last_error))
        db.execute(sa.update(OutboxJob).values(next_attempt_at=OutboxJob.created_at))
    with ThreadedServer(receiver, server.port):
        assert drain(services).sent == 1
    assert received == [{"logout_token": "t"}] * 2


def test_cli_lists_and_drains(services, mailer, tmp_path, database_url, monkeypatch):  # noqa: ANN001
    import idp.cli.outbox  # noqa: F401  (registers the commands)
    from idp.cli import base

    monkeypatch.setattr(base, "build_services", lambda _config: services)
    config = write_config_file(tmp_path / "cli.toml", database_url, "http://localhost")
    mail(services)
    run = lambda *args: CliRunner().invoke(base.cli, ["--config", str(config), "outbox", *args],  # noqa: E731
                                           catch_exceptions=False)
    listed = run("list")
    assert listed.exit_code == 0 and "pending: 1" in listed.output and "\temail\tpending\t" in listed.output
    assert "sEcReT" not in listed.output and "alice@example.com" not in listed.output
    drained = run("drain")
    assert drained.exit_code == 0 and "sent 1" in drained.output and len(mailer.sent) == 1
    assert "done: 1" in run("list", "--status", "done").output


@pytest.mark.parametrize(("outbox", "reason"), [
    ({"max_attempts": 0}, "outbox.max_attempts"),
    ({"retry_base_seconds": 7200}, "outbox.retry_base_seconds"),
    ({"lease_seconds": 30}, "outbox.lease_seconds: at least 60"),     # six times the 10 s mail timeout
    ({"sweep_interval_seconds": 0.0}, "outbox.sweep_interval_seconds"),
])
def test_queue_settings_are_checked_at_load(outbox, reason, database_url):  # noqa: ANN001
    from idp.config import ConfigError
    from tests.support.configs import make_config

    with pytest.raises(ConfigError, match=reason):
        make_config(database_url, outbox=outbox)
