"""Mail server and SMS gateway faults the factor tests (tests/web/test_email_sms_codes.py) do not cover:
a mail server that accepts the connection and then says nothing (bounded by [email] timeout_seconds), one
that refuses the recipient or the message, an SMS gateway that is down (connection refused) or hangs (time
bounded). Each time: a clear message, an answer within the timeout, nothing half-written (no code kept, audit
chains intact); and once the service is back, the same sign-in goes on with a new code (nothing lost).
Mail that is not a sign-in code (here: a "Forgot password?" link) leaves from the outbox queue after the
response: a failing mail server means a retried job, not an error page, with no link in the stored error or
the log, and the link arrives once the server is back.
Reuses tests/support/smtp_server.py and tests/support/sms_gateway.py."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from idp import audit
from idp.config import EmailConfig
from idp.delivery.mailer import Mailer
from idp.models import OtpChallenge, OutboxJob
from idp.outbox.worker import drain
from tests.support.browser import Browser
from tests.support.factors import enrol_side_channel
from tests.support.forms import forms
from tests.support.servers import free_port
from tests.support.sms_gateway import sms_gateway, webhook_config  # noqa: F401 (fixture)
from tests.support.smtp import email_config, latest_code, smtp  # noqa: F401 (fixture)

from .helpers import EMAIL, signed_in, start

PHONE = "+447911123456"
TIMEOUT = 1.0
NOT_SENT = "We couldn&#39;t send the code"


class SilentSmtp:
    """Accepts TCP connections and never says a word (a hung mail server)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._socket = socket.create_server(("127.0.0.1", self.port))
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._socket.settimeout(0.1)
        while not self._stop.is_set():
            try:
                self._held.append(self._socket.accept()[0])
            except OSError:
                continue

    def __enter__(self) -> "SilentSmtp":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._held:
            conn.close()
        self._socket.close()


class RefusingHandler:
    """An SMTP server that refuses: at RCPT TO (mailbox unavailable) or at DATA (transaction failed)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001, ANN201, N802
        if self.stage == "rcpt":
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        return "554 5.7.1 message refused"


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


def challenges(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(OtpChallenge.id)))


def chains_intact(services) -> bool:  # noqa: ANN001
    with services.database.session() as db:
        return all(audit.verify(db, chain).intact for chain in audit.chains(db))


def resend(browser: Browser, page):  # noqa: ANN001, ANN201
    fields = next(f.fields for f in forms(page.text) if f.action == "/login/resend")
    return browser.open("/login/resend", "POST", fields)


def _sign_in_to_the_code_page(app, factory, services, rp, kind: str, target: str | None = None):  # noqa: ANN001, ANN202
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, kind, target)
    browser = Browser(client=app.test_client())
    began = time.monotonic()
    page, _ = start(browser, rp)
    return browser, page, time.monotonic() - began


@pytest.mark.parametrize("fault", ["silent", "refuses-recipient", "refuses-message"])
def test_mail_server_faults(fault, app, factory, services, rp, smtp, frozen_clock, monkeypatch):  # noqa: F811
    if fault == "silent":
        server = SilentSmtp()
        port = server.port
    else:
        port = free_port()
        server = Controller(RefusingHandler("rcpt" if fault == "refuses-recipient" else "data"),
                            hostname="127.0.0.1", port=port)
    server.__enter__() if fault == "silent" else server.start()
    try:
        monkeypatch.setattr(services, "mailer", Mailer(EmailConfig(enabled=True, host="127.0.0.1", port=port,
                                                                   timeout_seconds=TIMEOUT)))
        browser, page, took = _sign_in_to_the_code_page(app, factory, services, rp, "email")
    finally:
        server.__exit__(None, None, None) if fault == "silent" else server.stop()
    assert NOT_SENT in page.text and "Try again in a few minutes" in page.text, page.text[:2000]
    assert took < TIMEOUT * 3 + 2, took   # bounded by the configured timeout (connect + greeting at most)
    assert challenges(services) == 0 and chains_intact(services)
    # the mail server is back (same process, no restart): a new code goes out and the sign-in goes on
    monkeypatch.setattr(services, "mailer", Mailer(EmailConfig(**email_config(smtp))))
    frozen_clock.advance(seconds=31)
    page = resend(browser, page)
    done = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    assert signed_in(done, rp), done.text[:2000]
    assert chains_intact(services)


class TestSmsGateway:
    @pytest.fixture
    def config_overrides(self, sms_gateway):  # noqa: ANN001, ANN201, F811
        return {"sms": webhook_config(sms_gateway, timeout=TIMEOUT)}

    @pytest.mark.parametrize("fault", ["down", "hang"])
    def test_gateway_faults_are_bounded_and_recoverable(self, fault, app, factory, services, rp, sms_gateway,  # noqa: F811
                                                        frozen_clock, monkeypatch):
        if fault == "down":
            from idp.delivery.sms import build_sms
            import dataclasses
            broken = dataclasses.replace(services.config, sms=dataclasses.replace(
                services.config.sms, webhook_url=f"http://127.0.0.1:{free_port()}/sms"))
            good = services.sms
            monkeypatch.setattr(services, "sms", build_sms(broken))
        else:
            sms_gateway.mode = "hang"
        browser, page, took = _sign_in_to_the_code_page(app, factory, services, rp, "sms", PHONE)
        assert NOT_SENT in page.text, page.text[:2000]
        assert took < TIMEOUT * 2 + 2, took
        assert challenges(services) == 0 and chains_intact(services)
        if fault == "down":
            monkeypatch.setattr(services, "sms", good)
        else:
            sms_gateway.mode = "ok"
            sms_gateway.release.set()
        frozen_clock.advance(seconds=31)
        page = resend(browser, page)
        done = browser.submit(page, "code", {"code": sms_gateway.wait_for(PHONE).code})
        assert signed_in(done, rp), done.text[:2000]


@pytest.mark.parametrize("fault", ["silent", "refuses-message"])
def test_a_failing_mail_server_means_a_retried_reset_mail(fault, app, factory, services, smtp, frozen_clock,  # noqa: F811
                                                          monkeypatch, caplog):
    factory.user(EMAIL)
    port = free_port()
    server = SilentSmtp() if fault == "silent" else Controller(RefusingHandler("data"), hostname="127.0.0.1",
                                                                port=port)
    server.__enter__() if fault == "silent" else server.start()
    try:
        monkeypatch.setattr(services, "mailer", Mailer(EmailConfig(
            enabled=True, host="127.0.0.1", port=server.port if fault == "silent" else port, timeout_seconds=TIMEOUT)))
        browser = Browser(client=app.test_client())
        page = browser.open("/forgot-password")
        with caplog.at_level("INFO"):
            done = browser.submit(page, "email", {"email": EMAIL})
    finally:
        server.__exit__(None, None, None) if fault == "silent" else server.stop()
    assert done.status == 200 and "Check your email" in done.text
    with services.database.session() as db:
        mail = db.scalar(sa.select(OutboxJob).where(OutboxJob.kind == "email"))
        assert (mail.status, mail.attempts) == ("pending", 1) and mail.last_error
        token_free = [mail.last_error, caplog.text]
    assert not any("reset-password/" in text for text in token_free) and chains_intact(services)
    # the mail server is back: the retry (after its back-off) delivers the link
    monkeypatch.setattr(services, "mailer", Mailer(EmailConfig(**email_config(smtp))))
    frozen_clock.advance(seconds=31)
    assert drain(services).sent == 1
    assert "/reset-password/" in smtp.wait_for(EMAIL, "Reset your").get_body(("plain",)).get_content()
