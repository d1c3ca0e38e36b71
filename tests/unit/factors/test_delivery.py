"""idp.delivery and idp.notices against real local servers: SMTP (aiosmtpd) and an HTTP gateway
(JSON webhook, Twilio's format), with refusals, timeouts and servers that are down."""
from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa

from idp.config import ConfigError, EmailConfig
from idp.delivery import DeliveryError
from idp.delivery.mailer import Mailer, MailerDisabled
from idp.delivery.sms import ConsoleSms, NoSms, TwilioSms, WebhookSms, build_sms
from idp.notices import notify_security_event
from idp.models import User
from idp.outbox.worker import drain
from tests.support.configs import make_config
from tests.support.servers import free_port
from tests.support.sms_gateway import (  # noqa: F401
    SmsGateway,
    sms_gateway,
    twilio_config,
    webhook_config,
)
from tests.support.smtp import smtp  # noqa: F401 (fixture)


def test_mailer_sends_a_real_message(smtp):  # noqa: ANN001, F811
    mailer = Mailer(EmailConfig(enabled=True, port=smtp.port, from_address="Fentu <idp@fentu.example>"))
    mailer.send("bob@example.com", "Hello", "Body text\n")
    message = smtp.wait_for("bob@example.com")
    assert message["Subject"] == "Hello" and message["From"] == "Fentu <idp@fentu.example>"
    assert message["Message-ID"].endswith("@fentu.example>") and message["Auto-Submitted"] == "auto-generated"
    assert message.get_body(("plain",)).get_content().strip() == "Body text"


def test_mailer_disabled_down_wrong_security_and_bad_headers(smtp):  # noqa: ANN001, F811
    with pytest.raises(MailerDisabled):
        Mailer(EmailConfig(enabled=False)).send("a@example.com", "s", "b")
    with pytest.raises(DeliveryError, match="did not accept"):
        Mailer(EmailConfig(enabled=True, port=free_port(), timeout_seconds=1)).send("a@example.com", "s", "b")
    with pytest.raises(DeliveryError):   # implicit TLS against a plain server
        Mailer(EmailConfig(enabled=True, port=smtp.port, security="tls", timeout_seconds=2)).send("a@example.com",
                                                                                                   "s", "b")
    with pytest.raises(DeliveryError, match="header"):
        Mailer(EmailConfig(enabled=True, port=smtp.port)).send("a@example.com", "s\r\nBcc: x@evil.example", "b")


def test_webhook_sms(sms_gateway):  # noqa: ANN001, F811
    WebhookSms(sms_gateway.url + "/hook", "tok", 1.0).send("+447911123456", "123456 is your code")
    received = sms_gateway.wait_for("+447911123456")
    assert received.path == "/hook" and received.headers["Authorization"] == "Bearer tok"
    assert received.body == {"to": "+447911123456", "message": "123456 is your code"}


def test_twilio_sms(sms_gateway):  # noqa: ANN001, F811
    TwilioSms("ACabc", "secret", "+15005550006", sms_gateway.url + "/", 1.0).send("+14155552671", "hi 123456")
    received = sms_gateway.wait_for("+14155552671")
    assert received.path == "/2010-04-01/Accounts/ACabc/Messages.json"
    assert received.body == {"To": "+14155552671", "From": "+15005550006", "Body": "hi 123456"}
    assert received.headers["Authorization"].startswith("Basic ")


def test_gateway_errors_timeouts_and_down(sms_gateway):  # noqa: ANN001, F811
    sms_gateway.mode = "fail"
    with pytest.raises(DeliveryError, match="HTTP 500"):
        WebhookSms(sms_gateway.url, "", 1.0).send("+447911123456", "x")
    sms_gateway.mode = "hang"
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="did not answer in time"):
        TwilioSms("AC1", "t", "+1", sms_gateway.url, 0.3).send("+447911123456", "x")
    assert time.monotonic() - started < 2
    sms_gateway.release.set()
    with pytest.raises(DeliveryError, match="could not be reached"):
        WebhookSms(f"http://127.0.0.1:{free_port()}/", "", 1.0).send("+447911123456", "x")
    with pytest.raises(DeliveryError, match="not configured"):
        NoSms().send("+447911123456", "x")


def test_console_sms_only_in_development(caplog):  # noqa: ANN001
    with pytest.raises(ConfigError, match="development"):
        make_config("sqlite://", sms={"provider": "console"})
    config = make_config("sqlite://", development=True, sms={"provider": "console"})
    sender = build_sms(config)
    with caplog.at_level(logging.WARNING):
        sender.send("+447911123456", "654321 is your code")
    assert isinstance(sender, ConsoleSms) and "654321 is your code" in caplog.text


def test_build_sms_picks_the_provider(sms_gateway):  # noqa: ANN001, F811
    assert isinstance(build_sms(make_config("sqlite://")), NoSms)
    assert isinstance(build_sms(make_config("sqlite://", sms=webhook_config(sms_gateway))), WebhookSms)
    assert isinstance(build_sms(make_config("sqlite://", sms=twilio_config(sms_gateway))), TwilioSms)


def _notify(services, what: str) -> bool:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == "alice@example.com"))
        return notify_security_event(services, user, what)


def test_notice_is_queued_sent_after_and_a_failure_never_blocks(services, factory, smtp, caplog):  # noqa: ANN001, F811
    factory.user("alice@example.com", name="Alice")
    services.mailer = Mailer(EmailConfig(enabled=True, port=smtp.port))
    assert _notify(services, "factor_added")
    assert smtp.to("alice@example.com") == []          # queued in the transaction (idp.outbox), sent after it
    assert drain(services).sent == 1
    body = smtp.wait_for("alice@example.com").get_body(("plain",)).get_content()
    assert "A new second factor" in body and "If this wasn't you" in body
    services.mailer = Mailer(EmailConfig(enabled=False))
    assert not _notify(services, "factor_added")
    services.mailer = Mailer(EmailConfig(enabled=True, port=free_port(), timeout_seconds=1))
    assert _notify(services, "factor_removed")          # the mail server being down never blocks the event
    with caplog.at_level(logging.WARNING):
        assert drain(services).retried == 1
    assert "outbox job" in caplog.text and "will retry" in caplog.text and "second factor" not in caplog.text


def test_sms_gateway_helper_stops_quickly():
    started = time.monotonic()
    with SmsGateway():
        pass
    assert time.monotonic() - started < 1
