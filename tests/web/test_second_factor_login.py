"""Second factors at sign-in, through HTTP: forced enrolment (email check, QR, recovery codes), the
authenticator app (replay, clock drift, non-ASCII digits), recovery codes, "Try another way",
lockout across sign-ins with its audit entries. Email goes through a real SMTP server."""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import unquote

import pytest

from tests.support.factors import (EMAIL, amr_of, audit_events, code_at, codes_on, enrol_side_channel, enrol_totp,
                                   fresh, give_recovery_codes, require_2fa, rp, secret_on, start,  # noqa: F401
                                   user_row)
from tests.support.smtp import email_config, latest_code, smtp  # noqa: F401 (fixture)


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp), "support_contact": "it-help@example.com"}


# --------------------------------------------------------------------------- forced enrolment

def test_enrol_at_sign_in_then_sign_out_and_in_with_the_app(app, browser, client, factory, rp, smtp,  # noqa: F811
                                                            services, frozen_clock):
    factory.user(EMAIL)
    require_2fa(services)
    page, verifier = start(browser, rp)
    assert "Set up two-factor authentication" in page.text and "First, confirm it" in page.text
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    assert "(recommended)" in page.text and "SIM-swapping" in page.text
    page = browser.submit(page, "stage", {"method": "totp"})
    assert '<svg' in page.text and "<?xml" not in page.text and 'autocomplete="one-time-code"' in page.text
    assert 'inputmode="numeric"' in page.text and '<label for="code">' in page.text
    secret = secret_on(page)
    page = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    codes = codes_on(page)
    assert len(codes) == 10 and "I have saved my recovery codes" in page.text, page.text
    assert 'action="/login/recovery-codes/download"' in page.text      # Download: the same file as Profile's
    assert "copy.js" in page.text and "<script>" not in page.text
    done = browser.submit(page, "stage", {}, button=("saved", "yes"))
    assert set(amr_of(client, rp, done, verifier)) >= {"pwd", "otp", "mfa"}
    assert [e.details["method"] for e in audit_events(services, "second_factor_enrolled")] == ["totp"]
    assert smtp.wait_for(EMAIL, "security notice")

    frozen_clock.advance(seconds=30)
    again = fresh(app)
    page, verifier = start(again, rp)
    assert "Open your authenticator app" in page.text
    done = again.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert set(amr_of(client, rp, done, verifier)) >= {"pwd", "otp", "mfa"}


def test_enrolment_wrong_code_keeps_the_same_qr_and_says_to_rescan(browser, factory, rp, smtp, services,  # noqa: F811
                                                                   frozen_clock):
    factory.user(EMAIL)
    require_2fa(services)
    page, _ = start(browser, rp)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    page = browser.submit(page, "stage", {"method": "totp"})
    secret = secret_on(page)
    wrong = f"{(int(code_at(secret, frozen_clock)) + 1) % 1_000_000:06d}"
    page = browser.submit(page, "code", {"code": wrong})
    assert "Delete the entry from your authenticator app and scan the QR code again" in page.text
    assert secret_on(page) == secret
    page = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert len(codes_on(page)) == 10


def test_forced_enrolment_first_proves_the_account_email(browser, factory, rp, smtp, services):  # noqa: F811
    factory.user(EMAIL)
    require_2fa(services)
    page, _ = start(browser, rp)
    assert "we sent a code to <strong>alice@example.com</strong>" in page.text
    page = browser.submit(page, "code", {"code": "000000" if latest_code(smtp, EMAIL) != "000000" else "111111"})
    assert "That code is not right" in page.text and "SIM-swapping" not in page.text
    skip = browser.submit(page, "stage", {"stage": "choose", "method": "totp"})   # skipping the check
    assert "out of date" in skip.text and "<svg" not in skip.text and "First, confirm it" in skip.text
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    assert "SIM-swapping" in page.text


def test_enrolment_by_email_needs_no_second_code_after_the_check(browser, client, factory, rp, smtp,  # noqa: F811
                                                                 services):
    factory.user(EMAIL)
    require_2fa(services)
    page, verifier = start(browser, rp)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    page = browser.submit(page, "stage", {"method": "email"})
    assert len(codes_on(page)) == 10
    done = browser.submit(page, "stage", {}, button=("saved", "yes"))
    assert "otp" in amr_of(client, rp, done, verifier)
    assert len(smtp.to(EMAIL, "code")) == 1


def test_enrolment_offers_only_the_organisations_allowed_methods(browser, factory, rp, smtp, services):  # noqa: F811
    factory.user(EMAIL)
    require_2fa(services, allowed_methods=["email"])
    page, _ = start(browser, rp)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    assert 'value="email"' in page.text and 'value="totp"' not in page.text
    page = browser.submit(page, "stage", {"method": "totp"})
    assert "Choose one of the methods shown" in page.text


# --------------------------------------------------------------------------- authenticator app

def test_replayed_code_is_refused(app, browser, factory, rp, services, frozen_clock):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    page, _ = start(browser, rp)
    code = code_at(secret, frozen_clock)
    done = browser.submit(page, "code", {"code": code})
    assert done.location and done.location.startswith(rp.redirect_uri)
    other = fresh(app)
    page, _ = start(other, rp)
    page = other.submit(page, "code", {"code": code})
    assert "That code was already used" in page.text and page.location is None


def test_clock_drift_is_explained_and_audited(browser, factory, rp, services, frozen_clock):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    page, _ = start(browser, rp)
    page = browser.submit(page, "code", {"code": code_at(secret, frozen_clock, seconds=-180)})
    assert "Your device clock looks about 3 minutes behind" in page.text
    assert "Settings &gt; Date &amp; Time &gt; Automatic" in page.text
    assert [e.details["drift_steps"] for e in audit_events(services, "totp_clock_drift")] == [-6]
    page = browser.submit(page, "code", {"code": code_at(secret, frozen_clock, seconds=150)})
    assert "about 2 minutes ahead" in page.text   # 5 steps of 30 s


@pytest.mark.parametrize("transform", [
    lambda c: "".join(chr(0x0660 + int(d)) for d in c),    # Arabic-Indic digits
    lambda c: "".join(chr(0xFF10 + int(d)) for d in c),    # full-width digits
    lambda c: "+" + c[1:], lambda c: c + "0",
], ids=["arabic-indic", "fullwidth", "sign", "longer"])
def test_non_ascii_digits_and_other_shapes_are_refused(browser, factory, rp, services, frozen_clock, transform):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    page, _ = start(browser, rp)
    page = browser.submit(page, "code", {"code": transform(code_at(secret, frozen_clock))})
    assert "digits 0-9 only" in page.text and page.location is None
    assert len(audit_events(services, "second_factor_failure")) == 1
    page = browser.submit(page, "code", {"code": " ".join(code_at(secret, frozen_clock)[i:i + 3] for i in (0, 3))})
    assert page.location and page.location.startswith(rp.redirect_uri)


def test_try_another_way_and_the_help_text(browser, factory, rp, services, smtp):  # noqa: F811
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    give_recovery_codes(services, EMAIL)
    page, _ = start(browser, rp)
    assert "Try another way" in page.text and "Can't use any of these?" in page.text
    assert "it-help@example.com" in page.text
    assert "Use a recovery code instead" in page.text
    page = browser.choose(page, "Email")
    assert "We sent a 6-digit code to <strong>a\u2022\u2022\u2022@example.com</strong>" in page.text
    assert "spam" in page.text and "/account/security" in page.text
    page = browser.choose(page, "Authenticator App")
    assert "Open your authenticator app" in page.text


# --------------------------------------------------------------------------- recovery codes

def test_recovery_code_sign_in(browser, client, factory, rp, services, smtp):  # noqa: F811
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    codes = give_recovery_codes(services, EMAIL)
    page, verifier = start(browser, rp)
    page = browser.choose(page, "Use a recovery code instead")
    assert 'autocomplete="off"' in page.text
    page = browser.submit(page, "code", {"code": "aaaa-bbbb-cccc"})
    assert "That recovery code is not right" in page.text
    notice = browser.submit(page, "code", {"code": codes[3].upper().replace("-", " ")})
    assert "You signed in with a recovery code" in notice.text and "<strong>9</strong>" in notice.text
    assert "Profile &gt; Security" in notice.text
    done = browser.submit(notice, "resume", {})
    assert "otp" in amr_of(client, rp, done, verifier)
    assert [e.details["remaining"] for e in audit_events(services, "recovery_code_used")] == [9]
    assert smtp.wait_for(EMAIL, "security notice")


def test_used_recovery_code_does_not_work_twice(app, browser, factory, rp, services):
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    codes = give_recovery_codes(services, EMAIL)
    page, _ = start(browser, rp)
    notice = browser.submit(browser.choose(page, "Use a recovery code instead"), "code", {"code": codes[0]})
    done = browser.submit(notice, "resume", {})
    assert done.location.startswith(rp.redirect_uri)
    other = fresh(app)
    page, _ = start(other, rp)
    page = other.submit(other.choose(page, "Use a recovery code instead"), "code", {"code": codes[0]})
    assert "That recovery code is not right, or it was already used" in page.text


def test_concurrent_use_of_one_recovery_code_lets_exactly_one_through(app, factory, rp, services, is_postgres):
    if not is_postgres:
        pytest.skip("two concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    code = give_recovery_codes(services, EMAIL)[0]
    browsers = [fresh(app) for _ in range(2)]
    pages = []
    for b in browsers:
        page, _ = start(b, rp)
        pages.append(b.choose(page, "Use a recovery code instead"))
    barrier, results = threading.Barrier(2), [None, None]

    def use(i: int) -> None:
        barrier.wait()
        results[i] = browsers[i].submit(pages[i], "code", {"code": code})

    threads = [threading.Thread(target=use, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    through = [r for r in results if "You signed in with a recovery code" in r.text]
    assert len(through) == 1
    assert any("already used" in r.text for r in results if r not in through)


# --------------------------------------------------------------------------- lockout

class TestLockout:
    @pytest.fixture
    def config_overrides(self, smtp):  # noqa: ANN001, ANN201, F811
        return {"email": email_config(smtp), "lockout": {"max_failures": 3, "base_lock_minutes": 15}}

    def test_lockout_counts_across_sign_ins_and_is_audited(self, app, factory, rp, services, frozen_clock):
        factory.user(EMAIL)
        secret = enrol_totp(services, EMAIL)
        wrong = f"{(int(code_at(secret, frozen_clock)) + 5) % 1_000_000:06d}"
        first = fresh(app)
        page, _ = start(first, rp)
        for _ in range(2):
            page = first.submit(page, "code", {"code": wrong})
            assert "That code is not right" in page.text
        second = fresh(app)
        page, _ = start(second, rp)
        page = second.submit(page, "code", {"code": wrong})
        until = frozen_clock.current + timedelta(minutes=15)
        when = until.strftime("%H:%M UTC") + ("" if until.date() == frozen_clock.current.date()
                                              else f" on {until.day} {until.strftime('%B')}")
        assert page.status == 403, page.text
        assert (f"Too many wrong codes. Your second factor is locked until {when}; ask your administrator "
                "to unlock it sooner.") in page.text
        third = fresh(app)
        page, _ = start(third, rp)
        assert page.status == 403 and "locked until" in page.text   # not even asked for a code
        failures = audit_events(services, "second_factor_failure")
        assert [e.details["failures"] for e in failures] == [1, 2, 3]
        locked = audit_events(services, "second_factor_locked")
        assert len(locked) == 1 and locked[0].details["minutes"] == 15
        assert user_row(services, EMAIL).otp_lock_count == 1
        frozen_clock.advance(minutes=16)
        fourth = fresh(app)
        page, _ = start(fourth, rp)
        done = fourth.submit(page, "code", {"code": code_at(secret, frozen_clock)})
        assert done.location and done.location.startswith(rp.redirect_uri)
        assert user_row(services, EMAIL).otp_lock_count == 0
