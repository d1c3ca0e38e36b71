"""Issue 12, items 1 and 2: a one-time code belongs to exactly one challenge, and every place that checks an
answer takes the same path (one row lock, one counter, one message). HTTP level, with real SMTP."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from idp.attempts import device_cookies
from idp.models import AuditEvent, OtpChallenge, SecondFactor, User
from tests.support.browser import Browser, Page
from tests.support.factors import EMAIL, enrol_side_channel, enrol_totp, fresh, rp, start  # noqa: F401 (rp)
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.smtp import email_config, latest_code, smtp  # noqa: F401 (fixture)


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp), "rate_limit": {"enabled": False}}


def signed_in_with_email_code(browser: Browser, smtp, count: int) -> Page:  # noqa: ANN001, F811
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    return browser.submit(page, "code", {"code": latest_code(smtp, EMAIL, count=count)})


def newest_challenge(services, purpose: str) -> OtpChallenge:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalars(sa.select(OtpChallenge).where(OtpChallenge.purpose == purpose)
                          .order_by(OtpChallenge.id.desc())).first()


def email_factor_id(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(SecondFactor.id).where(SecondFactor.kind == "email"))


def confirm_with_code(browser: Browser, factor_id: int, challenge_id: int, code: str) -> Page:
    page = browser.open("/account/security/confirm?next=/account/security")
    token = next(f.fields["csrf_token"] for f in forms(page.text) if "csrf_token" in f.fields)
    return browser.open("/account/security/confirm", "POST", {
        "csrf_token": token, "method": "code", "factor_id": str(factor_id), "challenge_id": str(challenge_id),
        "code": code, "next": "/account/security"})


def test_a_sign_in_code_is_not_a_proof_in_profile_security(app, browser, factory, services, smtp,  # noqa: F811
                                                            frozen_clock):
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    signed_in_with_email_code(browser, smtp, 1)
    frozen_clock.advance(minutes=10)                                 # the sign-in is no longer a fresh proof
    other = fresh(app)
    other.sign_in(other.open("/account/security"), EMAIL, PASSWORD)   # another sign-in: a code for it
    sign_in_code, challenge = latest_code(smtp, EMAIL, count=2), newest_challenge(services, "login")
    refused = confirm_with_code(browser, email_factor_id(services), challenge.id, sign_in_code)
    assert refused.status == 400 and "no longer valid" in refused.text
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.event == "step_up")) == 0


def test_sending_a_proof_code_does_not_cancel_an_open_sign_in_code(app, browser, factory, services, smtp,  # noqa: F811
                                                                    frozen_clock):
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    signed_in_with_email_code(browser, smtp, 1)
    other = fresh(app)
    waiting = other.sign_in(other.open("/account/security"), EMAIL, PASSWORD)
    sign_in_code = latest_code(smtp, EMAIL, count=2)
    page = browser.open("/account/security/confirm?next=/account/security")
    send = next(f for f in forms(page.text) if f.action == "/account/security/confirm/send")
    assert browser.open(send.action, "POST", send.fields).status in (200, 302)
    assert len(smtp.to(EMAIL)) == 3                                  # the proof code went out
    done = other.submit(waiting, "code", {"code": sign_in_code})      # and the sign-in code still works
    assert done.url.endswith("/account/security") and "Sign out everywhere else" in done.text


def test_the_email_check_waits_like_every_other_code_check(browser, factory, services, smtp,  # noqa: F811
                                                           frozen_clock):
    factory.user(EMAIL)
    browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.open("/account/security/check-email?next=/account/security/enable")
    code = latest_code(smtp, EMAIL)
    fields = next(f.fields for f in forms(page.text) if f.action == "/account/security/check-email")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):                                                # the third wrong code starts a wait
        browser.open("/account/security/check-email", "POST", {**fields, "code": wrong})
    waiting = browser.open("/account/security/check-email", "POST", {**fields, "code": code})
    assert waiting.status == 429 and "Wait 2 seconds" in waiting.text
    frozen_clock.advance(seconds=3)
    assert browser.open("/account/security/check-email", "POST", {**fields, "code": code}).url.endswith("/enable")


def test_parallel_wrong_codes_at_confirm_are_checked_one_at_a_time(app, factory, services, frozen_clock,
                                                                   is_postgres):
    """16 wrong authenticator codes at "Confirm it's you" at the same moment, from browsers the account has no
    trust in (no device cookie: idp.attempts): the third starts a wait, so exactly three are compared (one
    row lock, one counter), the rest are told to wait."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL (IDP_TEST_DATABASE_URL): SQLite serialises whole requests")
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    browsers = [Browser(client=app.test_client()) for _ in range(16)]
    import pyotp
    for b in browsers:
        page = b.sign_in(b.open("/account/security"), EMAIL, PASSWORD)
        b.submit(page, "code", {"code": pyotp.TOTP(secret).at(frozen_clock.current)})
        frozen_clock.advance(seconds=30)                              # each sign-in uses a new code
    frozen_clock.advance(minutes=10)
    for b in browsers:        # signed in, but from a browser whose "signed in here before" cookie is gone
        b.client.delete_cookie(device_cookies.cookie_name(https=False))
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == EMAIL)).otp_failures = 0
    barrier = threading.Barrier(16, timeout=20)
    statuses: list[int] = []

    def guess(b: Browser) -> None:
        page = b.open("/account/security/confirm?next=/account/security")
        token = next(f.fields["csrf_token"] for f in forms(page.text) if "csrf_token" in f.fields)
        barrier.wait()
        statuses.append(b.open("/account/security/confirm", "POST", {
            "csrf_token": token, "method": "totp", "code": "000000", "next": "/account/security"}).status)

    threads = [threading.Thread(target=guess, args=(b,)) for b in browsers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with services.database.session() as db:
        compared = db.scalar(sa.select(sa.func.count(AuditEvent.id))
                             .where(AuditEvent.event == "second_factor_failure"))
    assert compared == 3 and sorted(statuses) == [400] * 3 + [429] * 13
