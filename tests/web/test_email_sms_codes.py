"""Codes sent by email (a real SMTP server) and SMS (a real local HTTP gateway: JSON webhook and Twilio's
format) at sign-in: delivery, expiry, wrong tries, resend throttle, failures of the mail server or the
gateway (500, timeout) with the other methods still offered, and SMS enrolment inside the sign-in."""
from __future__ import annotations

import base64
import re

import pytest
import sqlalchemy as sa

from idp.models import OtpChallenge, User
from tests.support.factors import (EMAIL, amr_of, code_at, codes_on, enrol_side_channel, enrol_totp, fresh,
                                   require_2fa, rp, start)  # noqa: F401 (fixture)
from tests.support.forms import forms
from tests.support.sms_gateway import sms_gateway, twilio_config, webhook_config  # noqa: F401 (fixture)
from tests.support.smtp import down_email_config, email_config, latest_code, smtp  # noqa: F401 (fixture)

PHONE = "+447911123456"


@pytest.fixture
def config_overrides(smtp, sms_gateway):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp), "sms": webhook_config(sms_gateway), "login": {"transaction_ttl_minutes": 30}}


def resend(browser, page):  # noqa: ANN001, ANN201
    """Press "Send a new code"."""
    fields = next(f.fields for f in forms(page.text) if f.action == "/login/resend")
    return browser.open("/login/resend", "POST", fields)


def challenges(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(OtpChallenge.id)))


def prefer(services, method: str) -> None:  # noqa: ANN001
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == EMAIL)).preferred_method = method


# --------------------------------------------------------------------------- email

def test_email_code_sign_in_with_the_real_message(browser, client, factory, rp, smtp, services):  # noqa: F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page, verifier = start(browser, rp)
    assert "a\u2022\u2022\u2022@example.com" in page.text and "spam" in page.text
    message = smtp.wait_for(EMAIL)
    code = latest_code(smtp, EMAIL)
    assert code not in message["Subject"] and "sign-in code" in message["Subject"]
    assert "expires in 10 minutes" in message.get_body(("plain",)).get_content()
    assert message["From"] == "Fentu IdP <no-reply@localhost>" and message["Message-ID"]
    done = browser.submit(page, "code", {"code": code})
    assert set(amr_of(client, rp, done, verifier)) >= {"pwd", "otp", "mfa"}
    again = browser.submit(page, "code", {"code": code})          # single use: the old page again
    assert again.location is None


def test_a_code_belongs_to_its_own_sign_in(app, browser, factory, rp, smtp, services):  # noqa: F811
    """Issue 12, item 1: a code sent for sign-in A does not complete sign-in B in another browser, B's wrong
    guesses do not use up A's tries, and B's new code does not cancel A's."""
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page_a, _ = start(browser, rp)
    code_a = latest_code(smtp, EMAIL)
    other = fresh(app)
    page_b, _ = start(other, rp)
    assert len(smtp.to(EMAIL)) == 2                          # B has a code of its own
    code_b = latest_code(smtp, EMAIL, count=2)
    refused = other.submit(page_b, "code", {"code": code_a})
    assert "That code is not right" in refused.text and not refused.location
    other.submit(refused, "code", {"code": "000000" if code_b != "000000" else "111111"})
    with services.database.session() as db:                  # B's guesses were counted on B's code only
        attempts = list(db.scalars(sa.select(OtpChallenge.attempts).order_by(OtpChallenge.id)))
    assert attempts == [0, 2]
    done = browser.submit(page_a, "code", {"code": code_a})
    assert done.location and done.location.startswith(rp.redirect_uri)


def test_a_page_shown_again_continues_with_the_code_already_sent(browser, factory, rp, smtp, services):  # noqa: F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page, _ = start(browser, rp)
    again = browser.open("/login")
    assert "We sent a 6-digit code" in again.text and len(smtp.to(EMAIL)) == 1
    done = browser.submit(again, "code", {"code": latest_code(smtp, EMAIL)})
    assert done.location and done.location.startswith(rp.redirect_uri)


def test_email_code_expires(browser, factory, rp, smtp, services, frozen_clock):  # noqa: F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page, _ = start(browser, rp)
    code = latest_code(smtp, EMAIL)
    frozen_clock.advance(minutes=10, seconds=1)
    page = browser.submit(page, "code", {"code": code})
    assert "This code has expired" in page.text
    page = resend(browser, page)
    assert "A new code was sent" in page.text
    done = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL, count=2)})
    assert done.location and done.location.startswith(rp.redirect_uri)


def test_resend_is_throttled_and_replaces_the_code(browser, factory, rp, smtp, services, frozen_clock):  # noqa: F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page, _ = start(browser, rp)
    first = latest_code(smtp, EMAIL)
    page = resend(browser, page)
    assert re.search(r"You can ask for a new one in \d+ seconds", page.text)
    for sent in range(2, 6):
        frozen_clock.advance(seconds=31)
        page = resend(browser, page)
        assert "A new code was sent" in page.text
        latest_code(smtp, EMAIL, count=sent)
    frozen_clock.advance(seconds=31)
    page = resend(browser, page)
    assert "Too many codes were sent in the last hour" in page.text and len(smtp.to(EMAIL)) == 5
    if first != latest_code(smtp, EMAIL, count=5):
        page = browser.submit(page, "code", {"code": first})
        assert "That code is not right" in page.text
    done = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL, count=5)})
    assert done.location and done.location.startswith(rp.redirect_uri)


class TestWrongTries:
    @pytest.fixture
    def config_overrides(self, smtp):  # noqa: ANN001, ANN201, F811
        return {"email": email_config(smtp), "login": {"max_second_factor_failures": 20},
                "lockout": {"max_failures": 50}}

    def test_five_wrong_tries_then_a_new_code_is_needed(self, browser, factory, rp, smtp, services,  # noqa: F811
                                                        frozen_clock):
        factory.user(EMAIL)
        enrol_side_channel(services, EMAIL, "email")
        page, _ = start(browser, rp)
        code = latest_code(smtp, EMAIL)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for left in (4, 3, 2, 1):
            page = browser.submit(page, "code", {"code": wrong})
            assert f"{left} {'try' if left == 1 else 'tries'} left" in page.text
            frozen_clock.advance(seconds=20)                       # past the growing delay
        page = browser.submit(page, "code", {"code": wrong})
        assert "it was the last try for this code. Send a new code." in page.text
        frozen_clock.advance(seconds=20)
        page = browser.submit(page, "code", {"code": code})
        assert "no longer valid" in page.text and page.location is None
        page = resend(browser, page)
        done = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL, count=2)})
        assert done.location and done.location.startswith(rp.redirect_uri)

    def test_wrong_tries_get_slower(self, browser, factory, rp, smtp, services, frozen_clock):  # noqa: F811
        factory.user(EMAIL)
        enrol_side_channel(services, EMAIL, "email")
        page, _ = start(browser, rp)
        code = latest_code(smtp, EMAIL)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(3):
            page = browser.submit(page, "code", {"code": wrong})
        page = browser.submit(page, "code", {"code": code})
        assert "Wait 2 seconds" in page.text
        frozen_clock.advance(seconds=2)
        done = browser.submit(page, "code", {"code": code})
        assert done.location and done.location.startswith(rp.redirect_uri)


class TestMailServerDown:
    @pytest.fixture
    def config_overrides(self):  # noqa: ANN201
        return {"email": down_email_config()}

    def test_smtp_down_says_so_and_offers_the_other_methods(self, browser, client, factory, rp, services,
                                                            frozen_clock):
        factory.user(EMAIL)
        secret = enrol_totp(services, EMAIL)
        enrol_side_channel(services, EMAIL, "email")
        prefer(services, "email_otp")
        page, verifier = start(browser, rp)
        assert "We couldn&#39;t send the code" in page.text and "Try another way" in page.text
        assert "No code has been sent" in page.text and challenges(services) == 0
        page = browser.choose(page, "Authenticator App")
        done = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
        assert "otp" in amr_of(client, rp, done, verifier)


# --------------------------------------------------------------------------- SMS

def test_sms_code_through_the_webhook(browser, client, factory, rp, services, sms_gateway):  # noqa: F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "sms", PHONE)
    page, verifier = start(browser, rp)
    assert "+44 \u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202256" in page.text
    sms = sms_gateway.wait_for(PHONE)
    assert sms.path == "/sms" and sms.headers["Authorization"] == "Bearer gateway-token"
    assert sms.text.endswith(f"@localhost #{sms.code}") and "expires in 10 minutes" in sms.text
    done = browser.submit(page, "code", {"code": sms.code})
    assert set(amr_of(client, rp, done, verifier)) >= {"pwd", "sms", "mfa"}


class TestTwilio:
    @pytest.fixture
    def config_overrides(self, sms_gateway):  # noqa: ANN001, ANN201, F811
        return {"sms": twilio_config(sms_gateway)}

    def test_sms_code_in_twilio_format(self, browser, client, factory, rp, services, sms_gateway):  # noqa: F811
        factory.user(EMAIL)
        enrol_side_channel(services, EMAIL, "sms", PHONE)
        page, verifier = start(browser, rp)
        sms = sms_gateway.wait_for(PHONE)
        sid = "AC" + "1" * 32
        assert sms.path == f"/2010-04-01/Accounts/{sid}/Messages.json"
        assert sms.headers["Authorization"] == "Basic " + base64.b64encode(f"{sid}:twilio-secret".encode()).decode()
        assert sms.body["From"] == "+447700900999" and sms.body["To"] == PHONE
        done = browser.submit(page, "code", {"code": sms.code})
        assert "sms" in amr_of(client, rp, done, verifier)


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_gateway_failure_or_timeout(browser, factory, rp, services, sms_gateway, mode):  # noqa: F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "sms", PHONE)
    enrol_side_channel(services, EMAIL, "email")
    prefer(services, "sms_otp")
    sms_gateway.mode = mode
    page, _ = start(browser, rp)
    assert "We couldn&#39;t send the code" in page.text and challenges(services) == 0
    assert "Try another way" in page.text and re.search(r'class="link">\s*Email <span class="destination">a\u2022+@example.com</span>', page.text)
    sms_gateway.release.set()


def test_sms_enrolment_inside_the_sign_in(browser, client, factory, rp, services, smtp, sms_gateway):  # noqa: F811
    factory.user(EMAIL)
    require_2fa(services)
    page, verifier = start(browser, rp)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    page = browser.submit(page, "stage", {"method": "sms"})
    assert 'type="tel"' in page.text and 'autocomplete="tel"' in page.text
    page = browser.submit(page, "phone", {"phone": "07911 123456"})
    assert "international format" in page.text
    page = browser.submit(page, "phone", {"phone": "+44 7911 123456"})
    assert "+44 \u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202256" in page.text, page.text
    page = browser.submit(page, "code", {"code": sms_gateway.wait_for(PHONE).code})
    assert len(codes_on(page)) == 10
    done = browser.submit(page, "stage", {}, button=("saved", "yes"))
    assert set(amr_of(client, rp, done, verifier)) >= {"pwd", "sms", "mfa"}
