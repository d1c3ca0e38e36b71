"""Sign-in pages that must not make people stumble (issue 15), through HTTP: "Use a recovery code instead" on
the 2FA prompt and "Try another way" listed openly with where codes go; no sign-in form for a signed-in
person; "Set it up now" on the grace notice continues into the set-up inside the same sign-in."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from idp.models import OtpChallenge, User
from tests.support.browser import Browser
from tests.support.factors import (EMAIL, amr_of, code_at, enrol_side_channel, enrol_totp, give_recovery_codes,
                                   require_2fa, rp, secret_on, start)  # noqa: F401 (fixture)
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.sms_gateway import sms_gateway, webhook_config  # noqa: F401 (fixture)
from tests.support.smtp import email_config, latest_code, smtp  # noqa: F401 (fixture)

PHONE = "+447911123456"


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


def user_of(db) -> User:  # noqa: ANN001
    return db.scalar(sa.select(User).where(User.email == EMAIL))


def choice_forms(text: str) -> list[str]:
    """The visible labels of the buttons that post a `choice` (recovery code, "Try another way")."""
    found = re.findall(r'name="choice" value="[^"]+">\s*<button[^>]*>(.*?)</button>', text, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", label)).strip() for label in found]


# --------------------------------------------------------------------------- 1. the 2FA prompt

def test_recovery_code_is_on_the_prompt_and_other_ways_are_listed_with_their_destination(
        browser, factory, rp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    give_recovery_codes(services, EMAIL)
    page, _ = start(browser, rp)
    assert "Open your authenticator app" in page.text
    assert "<details" not in page.text                 # nothing hidden behind a closed disclosure
    labels = choice_forms(page.text)
    assert labels[0] == "Use a recovery code instead"
    assert "Email a\u2022\u2022\u2022@example.com" in labels
    assert labels.count("Use a recovery code instead") == 1
    prompt = page.text.index("Use a recovery code instead")
    assert page.text.index('class="primary">Verify') < prompt < page.text.index("Try another way")

    page = browser.choose(page, "Use a recovery code instead")
    assert '<label for="code">Recovery code</label>' in page.text
    assert "Use a recovery code instead" not in choice_forms(page.text)
    assert "Authenticator App" in choice_forms(page.text), page.text


def test_no_recovery_code_link_without_codes(browser, factory, rp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    page, _ = start(browser, rp)
    assert "Open your authenticator app" in page.text
    assert "Use a recovery code instead" not in page.text and "Try another way" not in page.text


# --------------------------------------------------------------------------- 3. back after signing in

def test_back_to_the_sign_in_page_after_signing_in_goes_to_security(browser, factory):  # noqa: ANN001
    factory.user(EMAIL)
    page = browser.open("/account/security")
    page = browser.sign_in(page, EMAIL, PASSWORD)
    assert page.url.endswith("/account/security") and page.status == 200
    back = browser._raw("GET", "http://localhost/login")
    assert back.status == 302 and back.location.endswith("/account/security")
    again = browser._raw("GET", "http://localhost/login?next=/account/security/enable")
    assert again.status == 302 and again.location.endswith("/account/security/enable")
    outside = browser._raw("GET", "http://localhost/login?next=//evil.example/")
    assert outside.status == 302 and outside.location.endswith("/account/security")


def test_back_after_an_application_sign_in_never_shows_the_form(browser, factory, rp):  # noqa: ANN001, F811
    factory.user(EMAIL)
    done, _ = start(browser, rp)
    assert done.location and done.location.startswith(rp.redirect_uri)
    back = browser.open("/login")               # the request was answered: nothing is waiting for this browser
    assert back.url.endswith("/account/security") and 'name="password"' not in back.text


def test_back_while_the_application_still_waits_for_consent_returns_to_it(browser, factory):  # noqa: ANN001
    factory.user(EMAIL)
    app_needing_consent = factory.client(consent=True)
    consent, _ = start(browser, app_needing_consent)
    assert "<h1>Allow Test app?</h1>" in consent.text
    back = browser.open("/login")
    assert 'name="password"' not in back.text
    assert "<h1>Allow Test app?</h1>" in back.text          # the same question again, not a sign-in form


def test_a_signed_out_browser_still_gets_the_form(app, factory):  # noqa: ANN001
    factory.user(EMAIL)
    page = Browser(client=app.test_client()).open("/login")
    assert page.status == 200 and 'name="password"' in page.text


# --------------------------------------------------------------------------- 2. "Set it up now"

def test_set_it_up_now_continues_into_the_set_up_and_on_to_the_application(
        browser, client, factory, rp, smtp, services, frozen_clock):  # noqa: ANN001, F811
    factory.user(EMAIL)
    require_2fa(services, grace_days=7)
    page, verifier = start(browser, rp)
    assert "days left to set up two-factor authentication" in page.text
    page = browser.submit(page, "step", {}, button=("action", "setup"))
    assert page.url.endswith("/login") and "Set up two-factor authentication" in page.text
    assert "First, confirm it" in page.text          # the emailed account check still comes first
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    page = browser.submit(page, "stage", {"method": "totp"})
    page = browser.submit(page, "code", {"code": code_at(secret_on(page), frozen_clock)})
    assert "I have saved my recovery codes" in page.text
    done = browser.submit(page, "stage", {}, button=("saved", "yes"))
    assert set(amr_of(client, rp, done, verifier)) >= {"pwd", "otp", "mfa"}


def test_set_it_up_now_on_an_account_sign_in_ends_on_security(browser, factory, smtp, services,  # noqa: ANN001, F811
                                                              frozen_clock):
    factory.user(EMAIL)
    require_2fa(services, grace_days=7)
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.submit(page, "step", {}, button=("action", "setup"))
    assert "First, confirm it" in page.text
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    page = browser.submit(page, "stage", {"method": "totp"})
    page = browser.submit(page, "code", {"code": code_at(secret_on(page), frozen_clock)})
    page = browser.submit(page, "stage", {}, button=("saved", "yes"))
    assert page.url.endswith("/account/security") and "Two-factor authentication is on" in page.text


def test_continue_on_the_grace_notice_still_skips_the_set_up(browser, client, factory, rp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    require_2fa(services, grace_days=7)
    page, verifier = start(browser, rp)
    done = browser.submit(page, "step", {}, button=("action", "continue"))
    assert amr_of(client, rp, done, verifier) == ["pwd"]


# --------------------------------------------------------------------------- 5. an emailed code proves the address

def email_on_security(browser) -> str:  # noqa: ANN001
    text = browser.open("/account/security").text
    return text[text.index('id="email-address"'):][:400]


def test_signing_in_with_an_emailed_code_confirms_the_address(browser, factory, smtp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    assert page.url.endswith("/account/security")
    shown = email_on_security(browser)
    assert "Confirmed" in shown and "not confirmed yet" not in shown


def test_the_first_set_up_email_check_confirms_the_address(browser, factory, smtp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    require_2fa(services)
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    assert "First, confirm it" in page.text
    browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    with services.database.session() as db:
        assert user_of(db).email_verified is True


def test_a_wrong_code_confirms_nothing(browser, factory, smtp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    require_2fa(services)
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    code = latest_code(smtp, EMAIL)
    browser.submit(page, "code", {"code": "000000" if code != "000000" else "111111"})
    with services.database.session() as db:
        assert user_of(db).email_verified is False


def test_a_code_to_another_address_does_not_confirm_the_account_address(factory, services):  # noqa: ANN001
    from idp.factors import codes, enrolled

    factory.user(EMAIL)
    with services.database.session() as db:
        user = user_of(db)
        factor, sent = enrolled.start_email_enrolment(db, services, user, "other@example.org", bound_to="t")
        challenge = db.get(OtpChallenge, sent.challenge_id)
        challenge.code_digest = services.pepper.hash("123456")
        db.flush()
        assert codes.check_code(db, services, user, challenge.id, "123456", bound_to="t").ok
        assert user.email_verified is False


# --------------------------------------------------------------------------- 6. one recovery-codes screen

def codes_block(text: str) -> str:
    """The shared recovery-codes block (list, Download form, Copy button) with the codes and token blanked."""
    start = text.index('<ul class="codes" id="recovery-code-list">')
    block = text[start:text.index("copy.js", start)]
    block = re.sub(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", "CODE", block)
    block = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', block)
    return re.sub(r'action="[^"]+"', "action", block)


def test_the_set_up_at_sign_in_shows_the_same_recovery_codes_screen_as_profile(
        app, browser, factory, smtp, services, frozen_clock):  # noqa: ANN001, F811
    factory.user(EMAIL)
    require_2fa(services)
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    page = browser.submit(page, "stage", {"method": "totp"})
    secret = secret_on(page)
    page = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    at_sign_in = page
    codes = re.findall(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>", page.text)
    assert len(codes) == 10
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    saved = browser.client.post("/login/recovery-codes/download", data={"csrf_token": token, "codes": " ".join(codes)})
    assert saved.status_code == 200 and saved.headers["Cache-Control"] == "no-store"
    assert saved.headers["Content-Disposition"] == 'attachment; filename="recovery-codes.txt"'
    assert all(code in saved.get_data(as_text=True).splitlines() for code in codes)
    refused = browser.client.post("/login/recovery-codes/download", data={"csrf_token": token, "codes": "<b>x</b>"})
    assert refused.status_code == 400

    page = browser.submit(page, "stage", {}, button=("saved", "yes"))
    assert page.url.endswith("/account/security")
    frozen_clock.advance(seconds=30)
    regenerate = browser.open("/account/security/recovery-codes/regenerate")
    if "Confirm it" in regenerate.text:
        regenerate = browser.submit(regenerate, "code", {"code": code_at(secret, frozen_clock)})
    form = next(f for f in forms(regenerate.text) if f.action.endswith("/recovery-codes/regenerate"))
    profile = browser.open(form.action, "POST", form.fields)
    assert codes_block(profile.text) == codes_block(at_sign_in.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', profile.text).group(1)
    new = re.findall(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>", profile.text)
    saved = browser.client.post("/account/security/recovery-codes/download",
                                data={"csrf_token": token, "codes": " ".join(new)})
    assert saved.headers["Content-Disposition"] == 'attachment; filename="recovery-codes.txt"'


def test_no_download_without_a_sign_in_in_progress(app, browser, factory):  # noqa: ANN001
    page = browser.open("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = browser.client.post("/login/recovery-codes/download",
                                   data={"csrf_token": token, "codes": "abcd-efgh-jkmn"})
    assert response.status_code == 400 and "recovery-codes.txt" not in response.headers.get("Content-Disposition", "")


# --------------------------------------------------------------------------- 7. a host name: no warning

def test_a_host_name_issuer_gets_no_ip_address_warning(browser, factory):  # noqa: ANN001
    factory.user(EMAIL)
    browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.open("/account/security/keys/add")
    assert page.status == 200 and "webauthn-address" not in page.text


# --------------------------------------------------------------------------- 4. "Last used"

def last_used_of(text: str, method: str) -> str:
    row = re.search(r'<th scope="row"[^>]*>' + re.escape(method) + r"</th>(.*?)</tr>", text, re.S)
    assert row, text[:3000]
    cell = re.search(r'data-label="Last used">(.*?)</td>', row.group(1), re.S)
    return cell.group(1).strip()


def test_an_email_code_used_to_sign_in_is_last_used_now(browser, factory, smtp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    assert last_used_of(page.text, "Email").startswith("<time")


def test_a_factor_set_up_at_sign_in_was_used_to_confirm_it(browser, factory, smtp, services,  # noqa: ANN001, F811
                                                          frozen_clock):
    factory.user(EMAIL)
    require_2fa(services)
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    page = browser.submit(page, "stage", {"method": "email"})     # the address was just checked: no second code
    page = browser.submit(page, "stage", {}, button=("saved", "yes"))
    assert page.url.endswith("/account/security")
    assert last_used_of(page.text, "Email").startswith("<time")


# --------------------------------------------------------------------------- 8. errors next to their field

FIELD = re.compile(r'<label for="(?P<field>[a-z]+)">[^<]*</label>\s*(?:<p class="hint"[^>]*>[^<]*</p>\s*)?'
                   r'<p class="error field-error" role="alert" id="(?P=field)-error">[^<]+</p>\s*<input id="(?P=field)"'
                   r'[^>]*aria-describedby="[^"]*(?P=field)-error"[^>]*aria-invalid="true"')


@pytest.mark.parametrize("where", ["totp", "recovery_code", "email_otp"])
def test_a_refused_code_is_shown_right_above_its_field(browser, factory, rp, smtp, services, where):  # noqa: ANN001, F811
    factory.user(EMAIL)
    if where == "email_otp":
        enrol_side_channel(services, EMAIL, "email")
    else:
        enrol_totp(services, EMAIL)
        give_recovery_codes(services, EMAIL)
    page, _ = start(browser, rp)
    if where == "recovery_code":
        page = browser.choose(page, "Use a recovery code instead")
    page = browser.submit(page, "code", {"code": "zzzz-zzzz-zzzz" if where == "recovery_code" else "000001"})
    assert page.status == 200 and FIELD.search(page.text), page.text


class TestPhoneNumber:
    """The SMS set-up's phone number field (a real SMS webhook gateway for this class only)."""

    @pytest.fixture
    def config_overrides(self, smtp, sms_gateway):  # noqa: ANN001, ANN201, F811
        return {"email": email_config(smtp), "sms": webhook_config(sms_gateway)}

    def test_a_refused_phone_number_is_shown_right_above_its_field(self, browser, factory, smtp,  # noqa: ANN001, F811
                                                                    services):
        factory.user(EMAIL)
        require_2fa(services)
        page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
        page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
        page = browser.submit(page, "stage", {"method": "sms"})
        page = browser.submit(page, "phone", {"phone": "12"})
        assert FIELD.search(page.text), page.text
