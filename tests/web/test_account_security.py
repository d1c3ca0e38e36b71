"""Profile > Security through HTTP: overview, method chooser, enrolment (Authenticator App, Email, SMS),
recovery codes shown once (Download / Copy), fresh proof before removing a factor or regenerating codes,
recovery-code sign-in, the way back to an application. Email goes through a real SMTP server."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pyotp
import pytest
import sqlalchemy as sa

from idp.factors import enrolled, recovery
from idp.models import AuditEvent, BrowserSession, Organisation, RecoveryCode, SecondFactor, User
from tests.support.browser import Browser, Page
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.smtp import latest_code, smtp  # noqa: F401  (fixture: a real SMTP server)

EMAIL = "alice@example.com"


# --------------------------------------------------------------------------- helpers

def form_at(page: Page, action: str, **values: str) -> tuple[str, dict[str, str]]:
    """The fields of the form on `page` posting to `action` (path), with `values` filled in."""
    for form in forms(page.text):
        if form.action == action:
            return action, {**form.fields, **values}
    raise AssertionError(f"no form posting to {action} on {page.url}:\n{page.text[:3000]}")


def post(browser: Browser, page: Page, action: str, **values: str) -> Page:
    target, data = form_at(page, action, **values)
    return browser.open(target, "POST", data)


def sign_in(browser: Browser, email: str = EMAIL, password: str = PASSWORD, *, totp_secret: str | None = None,
            clock=None) -> Page:  # noqa: ANN001
    page = browser.sign_in(browser.open("/account/security"), email, password)
    if totp_secret is not None:
        assert 'autocomplete="one-time-code"' in page.text, page.text
        page = browser.submit(page, "code", {"code": code_for(totp_secret, clock)})
    return page


def check_email(browser: Browser, smtp) -> Page:  # noqa: ANN001
    """The first set-up starts by confirming a code sent to the account's address (when email works)."""
    page = browser.open("/account/security/check-email?next=/account/security/enable")
    assert "Confirm your email address" in page.text, page.text
    before = len(smtp.to(EMAIL))
    return post(browser, page, "/account/security/check-email", code=latest_code(smtp, EMAIL, count=before))


def code_for(secret: str, clock) -> str:  # noqa: ANN001
    return pyotp.TOTP(secret.replace(" ", "")).at(clock.current)


def secret_on(page: Page) -> str:
    match = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', page.text)
    assert match, page.text
    return match.group(1)


def codes_on(page: Page) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page.text)


def enrol_totp(browser: Browser, clock) -> tuple[str, list[str]]:  # noqa: ANN001
    """From Profile > Security: Enable Two-Factor Authentication → Authenticator App → code. (secret, codes)"""
    chooser = browser.open("/account/security/enable")
    qr_page = post(browser, chooser, "/account/security/enable/totp")
    secret = secret_on(qr_page)
    action = re.search(r'action="(/account/security/authenticator/\d+)"', qr_page.text).group(1)
    done = post(browser, qr_page, action, code=code_for(secret, clock))
    assert done.status == 200, done.text
    return secret, codes_on(done)


def audit_events(services, event: str) -> list[AuditEvent]:  # noqa: ANN001
    with services.database.session() as db:
        return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)))


def factors_of(services, email: str = EMAIL) -> list[SecondFactor]:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        rows = enrolled.active_factors(db, user)
        db.expunge_all()
        return rows


def codes_left(services, email: str = EMAIL) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return recovery.remaining(db, db.scalar(sa.select(User).where(User.email == email)))


def set_org(services, **settings) -> None:  # noqa: ANN001
    with services.database.session() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.slug == "default"))
        for key, value in settings.items():
            setattr(org, key, value)


class FakeSms:
    """Stands in for the SMS gateway (the provider itself is tested with the delivery module)."""

    enabled = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, message: str) -> None:
        self.sent.append((to, message))

    def last_code(self) -> str:
        return re.search(r"\b(\d{6})\b", self.sent[-1][1]).group(1)


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


# --------------------------------------------------------------------------- overview and chooser

def test_security_page_needs_sign_in_and_offers_to_enable(browser, alice):
    anonymous = browser.client.get("/account/security")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    page = sign_in(browser)
    assert page.url.endswith("/account/security")
    assert '<h2 id="security">Security</h2>' in page.text
    assert "Two-factor authentication is off" in page.text
    assert ">Enable Two-Factor Authentication</a>" in page.text
    assert "Regenerate Recovery Codes" not in page.text
    assert page.text.count('href="/account/security"') >= 2  # brand + avatar menu "Profile"
    assert ">Profile</a>" in page.text


def test_chooser_recommends_the_authenticator_app_and_only_offers_what_is_possible(browser, alice, services):
    sign_in(browser)
    page = browser.open("/account/security/enable")
    assert ">Authenticator App</button>" in page.text and "Recommended" in page.text
    assert "not vulnerable to SIM-swapping or email account compromise" in page.text
    # email disabled and no SMS provider (the test config): neither is offered, nor can it be forced
    assert ">Email</button>" not in page.text and ">SMS</a>" not in page.text
    refused = post_raw(browser, page, "/account/security/enable/email")
    assert "Email is not available for your account" in refused.text
    assert factors_of(services) == [] and _pending(services) == 0


def post_raw(browser: Browser, page: Page, action: str, **values: str) -> Page:
    """POST to `action` with this page's CSRF token (for forms the page does not show)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return browser.open(action, "POST", {"csrf_token": token, **values})


def _pending(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(SecondFactor.id)).where(SecondFactor.confirmed_at.is_(None)))


class TestAllMethodsConfigured:
    @pytest.fixture
    def config_overrides(self, smtp):  # noqa: ANN001, ANN201
        return {"email": {"enabled": True, "host": "127.0.0.1", "port": smtp.port},
                "sms": {"provider": "webhook", "webhook_url": "http://127.0.0.1:9/sms"}}

    def test_all_three_are_offered_unless_the_organisation_restricts_them(self, browser, alice, services, smtp):
        sign_in(browser)
        started = post(browser, browser.open("/account/security/enable"), "/account/security/enable/totp")
        assert "Confirm your email address" in started.text   # a password session alone cannot start a set-up
        check_email(browser, smtp)
        page = browser.open("/account/security/enable")
        assert ">Authenticator App</button>" in page.text and ">Email</button>" in page.text
        assert ">SMS</a>" in page.text
        assert page.text.index("Authenticator App") < page.text.index(">Email<") < page.text.index(">SMS<")
        set_org(services, allowed_methods=["totp", "sms"])
        page = browser.open("/account/security/enable")
        assert ">Email</button>" not in page.text and ">SMS</a>" in page.text
        assert "not available" in post_raw(browser, page, "/account/security/enable/email").text


# --------------------------------------------------------------------------- Authenticator App

def test_authenticator_app_enrolment_shows_recovery_codes_once(browser, alice, services, frozen_clock):
    sign_in(browser)
    qr_page = post(browser, browser.open("/account/security/enable"), "/account/security/enable/totp")
    assert "<svg" in qr_page.text and "QR code to scan with your authenticator app" in qr_page.text
    secret = secret_on(qr_page)
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{4}", secret)
    assert "Type the 6-digit code shown in your authenticator app" in qr_page.text
    assert 'autocomplete="one-time-code" inputmode="numeric"' in qr_page.text
    assert re.search(r'<label for="totp-code">', qr_page.text) and 'id="totp-code"' in qr_page.text
    action = re.search(r'action="(/account/security/authenticator/\d+)"', qr_page.text).group(1)

    wrong = post(browser, qr_page, action, code="000000" if code_for(secret, frozen_clock) != "000000" else "111111")
    assert wrong.status == 400
    assert "Delete the entry from your authenticator app and scan the QR code again" in wrong.text
    assert 'aria-invalid="true"' in wrong.text and secret_on(wrong) == secret   # the same pending QR stays
    assert factors_of(services) == []

    done = post(browser, wrong, action, code=code_for(secret, frozen_clock))
    assert done.status == 200 and "Two-factor authentication is on" in done.text
    codes = codes_on(done)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert ">Download</button>" in done.text and ">Copy</button>" in done.text
    assert "/static/copy.js" in done.text and "<script>" not in done.text
    [factor] = factors_of(services)
    assert factor.kind == "totp" and factor.confirmed_at is not None
    [event] = audit_events(services, "second_factor_enrolled")
    assert event.actor == f"user:{EMAIL}" and event.details["kind"] == "totp"

    overview = browser.open("/account/security")
    assert "Two-factor authentication is on" in overview.text and "Authenticator App" in overview.text
    assert "<strong>10</strong> of 10 recovery codes left" in overview.text
    assert not any(code in overview.text for code in codes)           # never shown again
    assert ">Regenerate Recovery Codes</a>" in overview.text
    with services.database.session() as db:                          # stored only as keyed hashes
        digests = list(db.scalars(sa.select(RecoveryCode.code_digest)))
        assert len(digests) == 10 and not any(code.replace("-", "") in digests for code in codes)
        stored = db.scalar(sa.select(SecondFactor.secret_encrypted))
        assert secret.replace(" ", "").encode() not in stored


def test_download_is_an_uncached_text_attachment_of_the_codes_on_screen(browser, alice, frozen_clock):
    sign_in(browser)
    _, codes = enrol_totp(browser, frozen_clock)
    page = browser.open("/account/security")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = browser.client.post("/account/security/recovery-codes/download",
                                   data={"csrf_token": token, "codes": " ".join(codes)})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert ".txt" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert all(code in body.splitlines() for code in codes) and EMAIL in body
    garbage = browser.client.post("/account/security/recovery-codes/download",
                                  data={"csrf_token": token, "codes": "<script>alert(1)</script>"})
    assert garbage.status_code == 400
    no_token = browser.client.post("/account/security/recovery-codes/download", data={"codes": " ".join(codes)})
    assert no_token.status_code == 400


def test_every_form_needs_the_csrf_token(browser, alice, services, frozen_clock):
    sign_in(browser)
    for path in ("/account/security/enable/totp", "/account/security/recovery-codes/regenerate",
                 "/account/security/confirm", "/account/security/enable/sms"):
        response = browser.client.post(path, data={"code": "123456", "method": "totp"})
        assert response.status_code == 400, path
        assert "This form has expired" in response.get_data(as_text=True)
    assert _pending(services) == 0


# --------------------------------------------------------------------------- fresh proof, remove, regenerate

def test_removing_a_factor_needs_a_fresh_second_factor_code(browser, alice, services, frozen_clock):
    sign_in(browser)
    secret, _ = enrol_totp(browser, frozen_clock)
    frozen_clock.advance(minutes=6)                   # the proof from the set-up is no longer fresh
    overview = browser.open("/account/security")
    factor_id = factors_of(services)[0].id
    remove_path = f"/account/security/factors/{factor_id}/remove"
    assert f'href="{remove_path}"' in overview.text
    confirm = browser.open(remove_path)
    assert confirm.url.startswith("http://localhost/account/security/confirm?next=")
    assert "Confirm it&#39;s you" in confirm.text or "Confirm it's you" in confirm.text
    assert 'name="password"' not in confirm.text    # with a second factor, the password is not enough
    assert "Use a recovery code instead" in confirm.text

    # a stale POST does nothing and asks for the proof first
    stale = post_raw(browser, overview, remove_path)
    assert "/account/security/confirm" in stale.url and len(factors_of(services)) == 1

    wrong = post(browser, confirm, "/account/security/confirm", code="12345")
    assert wrong.status == 400 and 'id="confirm-totp-error"' in wrong.text and 'aria-invalid="true"' in wrong.text
    with services.database.session() as db:
        # every wrong answer counts, whatever its shape: one rule for sign-in, proofs and set-up (issue 12)
        assert db.scalar(sa.select(User.otp_failures).where(User.email == EMAIL)) == 1
    frozen_clock.advance(seconds=30)
    page = post(browser, confirm, "/account/security/confirm", code=code_for(secret, frozen_clock))
    assert page.url.endswith(remove_path) and "Remove Authenticator App?" in page.text
    assert "two-factor authentication will be off" in page.text
    done = post(browser, page, remove_path)
    assert done.url.endswith("/account/security") and "Authenticator App was removed" in done.text
    assert factors_of(services) == []
    [event] = audit_events(services, "second_factor_removed")
    assert event.actor == f"user:{EMAIL}" and event.details == {"kind": "totp", "factor_id": factor_id}
    assert audit_events(services, "step_up")[0].details == {"method": "totp"}


def test_wrong_proofs_are_counted_towards_the_lockout(browser, alice, services, frozen_clock):
    sign_in(browser)
    secret, _ = enrol_totp(browser, frozen_clock)
    frozen_clock.advance(minutes=6)
    confirm = browser.open("/account/security/confirm?next=/account/security")
    right = code_for(secret, frozen_clock)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    page = post(browser, confirm, "/account/security/confirm", code=wrong)
    assert page.status == 400 and "not right" in page.text
    with services.database.session() as db:
        assert db.scalar(sa.select(User.otp_failures).where(User.email == EMAIL)) == 1
    assert audit_events(services, "second_factor_failure")[0].details["method"].startswith("totp")


def test_regenerate_recovery_codes_with_a_recovery_code_as_proof(browser, alice, services, frozen_clock):
    sign_in(browser)
    _, old_codes = enrol_totp(browser, frozen_clock)
    frozen_clock.advance(minutes=10)
    overview = browser.open("/account/security")
    confirm = browser.open("/account/security/recovery-codes/regenerate")
    assert "/account/security/confirm" in confirm.url
    forms_on_page = [f for f in forms(confirm.text) if f.fields.get("method") == "recovery"]
    assert forms_on_page, confirm.text
    page = browser.open("/account/security/confirm", "POST", {**forms_on_page[0].fields, "code": old_codes[0]})
    assert page.url.endswith("/account/security/recovery-codes/regenerate"), page.text
    assert "the previous set stops working immediately" in page.text and "9 unused recovery codes" in page.text
    done = post(browser, page, "/account/security/recovery-codes/regenerate")
    new_codes = codes_on(done)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert "Your previous recovery codes no longer work" in done.text and ">Download</button>" in done.text
    assert codes_left(services) == 10
    assert not _consume(services, old_codes[1]) and _consume(services, new_codes[0])
    [event] = audit_events(services, "recovery_codes_regenerated")
    assert event.actor == f"user:{EMAIL}"
    assert overview.status == 200


def _consume(services, code: str) -> bool:  # noqa: ANN001
    with services.database.session() as db:
        return recovery.consume(db, services, db.scalar(sa.select(User).where(User.email == EMAIL)), code)


def test_password_is_the_proof_when_there_is_no_second_factor(browser, alice, services, frozen_clock):
    sign_in(browser)
    frozen_clock.advance(minutes=6)
    page = browser.open("/account/security/confirm?next=/account/security/enable")
    assert 'autocomplete="current-password"' in page.text and "<label for=\"confirm-password\">Password</label>" in page.text
    wrong = post(browser, page, "/account/security/confirm", password="not it")
    assert wrong.status == 400 and 'id="confirm-password-error"' in wrong.text
    ok = post(browser, page, "/account/security/confirm", password=PASSWORD)
    assert ok.url.endswith("/account/security/enable")
    with services.database.session() as db:
        assert db.scalar(sa.select(BrowserSession.step_up_at)) == frozen_clock.current


def test_wrong_passwords_on_confirm_are_refused_in_words_about_passwords(browser, alice, frozen_clock):
    sign_in(browser)
    frozen_clock.advance(minutes=6)
    page = browser.open("/account/security/confirm?next=/account/security/enable")
    for _ in range(3):                    # the third wrong answer starts the growing delay
        refused = post(browser, page, "/account/security/confirm", password="not it")
    refused = post(browser, page, "/account/security/confirm", password=PASSWORD)
    assert refused.status == 429 and "Too many wrong passwords in a row. Wait" in refused.text
    assert "newest code" not in refused.text


def test_confirm_only_returns_to_profile_pages(browser, alice, frozen_clock):
    sign_in(browser)
    for evil in ("https://evil.example/", "//evil.example/account/", "/account/..//evil", "/login"):
        page = browser.open("/account/security/confirm?" + urlencode({"next": evil}))
        done = post(browser, page, "/account/security/confirm", password=PASSWORD)
        assert done.url == "http://localhost/account/security", evil


def test_adding_a_second_method_needs_a_fresh_proof(browser, alice, services, frozen_clock):
    sign_in(browser)
    enrol_totp(browser, frozen_clock)
    frozen_clock.advance(minutes=6)
    page = post(browser, browser.open("/account/security/enable"), "/account/security/enable/totp")
    assert page.url.endswith("/account/security/confirm?next=/account/security/enable")
    assert _pending(services) == 0


def test_the_last_factor_cannot_be_removed_while_the_organisation_requires_2fa(browser, alice, services,
                                                                                frozen_clock):
    sign_in(browser)
    enrol_totp(browser, frozen_clock)
    set_org(services, require_2fa=True, enforced_since=frozen_clock.current - timedelta(days=30))
    factor_id = factors_of(services)[0].id
    page = browser.open(f"/account/security/factors/{factor_id}/remove")
    assert "Your organisation requires two-factor authentication" in page.text and "danger" not in page.text
    done = post_raw(browser, page, f"/account/security/factors/{factor_id}/remove")
    assert "set up another method first" in done.text and len(factors_of(services)) == 1


# --------------------------------------------------------------------------- lost device, recovery sign-in

def test_recovery_code_sign_in_lands_on_security_and_allows_replacing_the_device(browser, alice, services,
                                                                                  frozen_clock):
    sign_in(browser)
    _, codes = enrol_totp(browser, frozen_clock)
    signed_out = post(browser, browser.open("/account/security"), "/logout")
    assert "You are signed out" in signed_out.text
    assert browser.client.get("/account/security").status_code == 302

    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    assert "Use a recovery code instead" in page.text
    page = browser.choose(page, "Use a recovery code instead")
    page = browser.submit(page, "code", {"code": codes[3]})
    assert page.url == "http://localhost/account/security?recovery_used=1", page.url
    assert "You signed in with a recovery code" in page.text and "<strong>9 recovery codes left</strong>" in page.text
    assert "Regenerate Recovery Codes" in page.text

    # the sign-in with a recovery code is itself a fresh proof: remove the lost device, set up a new one
    factor_id = factors_of(services)[0].id
    confirm_removal = browser.open(f"/account/security/factors/{factor_id}/remove")
    assert "Remove Authenticator App?" in confirm_removal.text
    post(browser, confirm_removal, f"/account/security/factors/{factor_id}/remove")
    secret, new_codes = enrol_totp(browser, frozen_clock)
    assert len(new_codes) == 10 and codes_left(services) == 10 and not set(new_codes) & set(codes)
    assert [f.kind for f in factors_of(services)] == ["totp"]
    assert audit_events(services, "recovery_code_used")


# --------------------------------------------------------------------------- back to the application

def test_back_link_only_for_registered_uris_of_that_client(browser, alice, factory):
    rp = factory.client("https://app.example/callback", logout_uris=("https://app.example/signed-out",))
    sign_in(browser)
    for uri in ("https://app.example/callback", "https://app.example/signed-out"):
        page = browser.open("/account/security?" + urlencode({"client_id": rp.client_id, "return_to": uri}))
        assert f'<a href="{uri}">Back to Test app</a>' in page.text
    kept = browser.open("/account/security")
    assert 'href="https://app.example/signed-out">Back to Test app' in kept.text   # kept for this browser
    for query in ({"client_id": rp.client_id, "return_to": "https://evil.example/"},
                  {"client_id": rp.client_id, "return_to": "https://app.example/callback/../x"},
                  {"client_id": "nope", "return_to": "https://app.example/callback"},
                  {"return_to": "https://app.example/callback"}):
        page = browser.open("/account/security?" + urlencode(query))
        assert "Back to" not in page.text, query


def test_back_link_survives_the_sign_in(browser, alice, factory):
    rp = factory.client("https://app.example/callback")
    query = urlencode({"client_id": rp.client_id, "return_to": "https://app.example/callback"})
    page = browser.sign_in(browser.open(f"/account/security?{query}"), EMAIL, PASSWORD)
    assert page.url.startswith("http://localhost/account/security?client_id="), page.url
    assert '<a href="https://app.example/callback">Back to Test app</a>' in page.text


# --------------------------------------------------------------------------- Email and SMS

class TestEmailAndSms:
    @pytest.fixture
    def config_overrides(self, smtp):  # noqa: ANN001, ANN201
        return {"email": {"enabled": True, "host": "127.0.0.1", "port": smtp.port},
                "sms": {"provider": "webhook", "webhook_url": "http://127.0.0.1:9/sms"},
                "otp": {"resend_interval_seconds": 0}}

    @pytest.fixture
    def sms(self, services):  # noqa: ANN001, ANN201
        fake = FakeSms()
        services.sms = fake
        return fake

    def test_email_enrolment_sends_a_test_code_at_once(self, browser, alice, services, smtp, frozen_clock):
        sign_in(browser)
        check_email(browser, smtp)
        page = post(browser, browser.open("/account/security/enable"), "/account/security/enable/email")
        assert "A test code was sent to <strong>alice@example.com</strong>" in page.text
        message = smtp.wait_for(EMAIL, count=2)   # the first was the account email check
        code = re.search(r"\b(\d{6})\b", message.get_content()).group(1)
        action = re.search(r'action="(/account/security/verify/\d+)"', page.text).group(1)
        wrong = post(browser, page, action, code=f"{(int(code) + 1) % 1000000:06d}")
        assert wrong.status == 400 and 'id="verify-code-error"' in wrong.text and "not right" in wrong.text
        done = post(browser, wrong, action, code=code)
        assert "Two-factor authentication is on" in done.text and len(codes_on(done)) == 10
        [factor] = factors_of(services)
        assert factor.kind == "email" and factor.target == EMAIL
        notice = smtp.wait_for(EMAIL, subject_contains="security notice")
        assert "A new second factor" in notice.get_content()
        overview = browser.open("/account/security")
        assert "a•••@example.com" in overview.text or "a&#8226;&#8226;&#8226;@example.com" in overview.text

    def test_sms_enrolment_validates_the_number(self, browser, alice, services, sms, smtp, frozen_clock):
        sign_in(browser)
        check_email(browser, smtp)
        page = browser.open("/account/security/enable/sms")
        assert 'type="tel"' in page.text and '<label for="phone">' in page.text
        bad = post(browser, page, "/account/security/enable/sms", phone="12345")
        assert bad.status == 400 and 'id="phone-error"' in bad.text and "international format" in bad.text
        assert 'value="12345"' in bad.text and sms.sent == []
        sent = post(browser, bad, "/account/security/enable/sms", phone="+44 7400 123456")
        assert sms.sent[-1][0] == "+447400123456" and "+447400123456" in sent.text
        action = re.search(r'action="(/account/security/verify/\d+)"', sent.text).group(1)
        resent = post(browser, sent, f"{action}/resend")
        assert "A new code is on its way" in resent.text and len(sms.sent) == 2
        done = post(browser, resent, action, code=sms.last_code())
        assert "Two-factor authentication is on" in done.text
        assert [(f.kind, f.target) for f in factors_of(services)] == [("sms", "+447400123456")]

    def test_email_code_as_proof_before_removing(self, browser, alice, services, smtp, sms, frozen_clock):
        sign_in(browser)
        check_email(browser, smtp)
        enrol_page = post(browser, browser.open("/account/security/enable/sms"), "/account/security/enable/sms",
                          phone="+447400123456")
        action = re.search(r'action="(/account/security/verify/\d+)"', enrol_page.text).group(1)
        post(browser, enrol_page, action, code=sms.last_code())
        frozen_clock.advance(minutes=6)
        factor_id = factors_of(services)[0].id
        confirm = browser.open(f"/account/security/factors/{factor_id}/remove")
        assert "Send a code to +44" in confirm.text
        sent = post(browser, confirm, "/account/security/confirm/send")
        assert "Enter the code sent to +44" in sent.text
        page = post(browser, sent, "/account/security/confirm", code=sms.last_code())
        assert page.url.endswith(f"/factors/{factor_id}/remove")
        done = post(browser, page, f"/account/security/factors/{factor_id}/remove")
        assert "SMS was removed" in done.text and factors_of(services) == []
        assert smtp.wait_for(EMAIL, subject_contains="security notice", count=2)

    def test_regenerating_sends_a_notice(self, browser, alice, services, smtp, frozen_clock):
        sign_in(browser)
        check_email(browser, smtp)
        enrol_totp(browser, frozen_clock)
        page = browser.open("/account/security/recovery-codes/regenerate")   # still fresh from the set-up
        post(browser, page, "/account/security/recovery-codes/regenerate")
        notice = smtp.wait_for(EMAIL, subject_contains="security notice", count=2)
        assert "New recovery codes were created" in notice.get_content()
        assert not re.search(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", notice.get_content())   # no code in it
