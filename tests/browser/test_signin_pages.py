"""The sign-in pages of issue 15 in real headless Chromium (issuer http://127.0.0.1:<port>): "Use a recovery code
instead" on the 2FA prompt and "Try another way" listed openly with where codes go, spaced from Verify; "Set it up
now" continuing into the set-up inside the same sign-in with the one recovery-codes screen (Copy, Download
recovery-codes.txt); the back button after signing in; errors right above their field; and the security-key
page explaining that browsers refuse an IP address."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.support.factors import enrol_side_channel, enrol_totp, give_recovery_codes, require_2fa
from tests.support.factory import PASSWORD
from tests.support.smtp import email_config, latest_code, smtp  # noqa: F401 (fixture)

from .conftest import PHONE

pytestmark = pytest.mark.browser

EMAIL = "alice@example.com"
SHOTS = os.environ.get("IDP_SCREENSHOTS")     # scripts/screenshots.py: the pictures in the README


def shot(page: Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def password_step(page: Page) -> None:
    page.goto("/account/security")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_prompt_shows_the_recovery_code_and_the_other_ways_openly(page: Page, alice, services):  # noqa: ANN001
    enrol_totp(services, EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    give_recovery_codes(services, EMAIL)
    password_step(page)
    expect(page.get_by_label("Code from your authenticator app")).to_be_visible()
    expect(page.locator("details")).to_have_count(0)
    expect(page.get_by_role("button", name="Use a recovery code instead")).to_be_visible()   # nothing to open
    expect(page.get_by_role("heading", name="Try another way")).to_be_visible()
    expect(page.get_by_role("button", name="Email a\u2022\u2022\u2022@example.com")).to_be_visible()
    gap = page.evaluate("""() => {
        const verify = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Verify');
        return document.querySelector('.try-another').getBoundingClientRect().top - verify.getBoundingClientRect().bottom;
    }""")
    assert gap >= 24, f"'Try another way' is only {gap}px below Verify"
    shot(page, "signin-try-another-desktop")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "signin-try-another-phone")

    page.get_by_role("button", name="Use a recovery code instead").click()
    expect(page.get_by_label("Recovery code")).to_be_visible()
    page.get_by_label("Recovery code").fill("zzzz-zzzz-zzzz")
    page.get_by_role("button", name="Verify").click()
    error = page.locator("#code-error")
    expect(error).to_be_visible()
    expect(page.get_by_label("Recovery code")).to_have_attribute("aria-invalid", "true")
    below = page.evaluate("""() => document.querySelector('#code').getBoundingClientRect().top
                                   - document.querySelector('#code-error').getBoundingClientRect().bottom""")
    assert 0 <= below <= 16, f"the error is {below}px from its field"


def test_set_it_up_now_continues_into_the_set_up_with_the_one_recovery_codes_screen(
        page: Page, alice, services, smtp, frozen_clock):  # noqa: ANN001, F811
    require_2fa(services, grace_days=7)
    password_step(page)
    expect(page.get_by_text("days left to set up two-factor authentication")).to_be_visible()
    page.get_by_role("button", name="Set it up now").click()
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    page.get_by_label("Code from the email").fill(latest_code(smtp, EMAIL))
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name=re.compile("^Authenticator App")).click()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).at(frozen_clock.current))
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator("#recovery-code-list code")).to_have_count(10)   # the same screen as Profile's
    codes = page.locator("#recovery-code-list code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").split() == codes
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "recovery-codes.txt"
    assert all(code in Path(download.value.path()).read_text().splitlines() for code in codes)

    page.get_by_role("button", name="I have saved my recovery codes").click()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()
    expect(page.get_by_text("Two-factor authentication is on")).to_be_visible()

    page.goto("/login")
    expect(page).to_have_url(re.compile(r"/account/security$"))


def test_the_back_button_after_signing_in_never_shows_a_sign_in_form(page: Page, alice):  # noqa: ANN001
    password_step(page)
    expect(page.get_by_role("heading", name="Security")).to_be_visible()
    page.go_back()                      # the sign-in form's address: /login
    expect(page.get_by_role("heading", name="Security")).to_be_visible()
    expect(page.locator("input[name=password]")).to_have_count(0)
    expect(page.get_by_label(f"Account menu for {EMAIL}")).to_be_visible()


def test_adding_a_key_on_an_ip_address_says_why_it_cannot_work(page: Page, alice, smtp):  # noqa: ANN001, F811
    password_step(page)
    page.goto("/account/security/keys/add")
    if page.get_by_role("heading", name="Confirm your email address").count():   # the first set-up's email check
        page.get_by_label("Code from the email").fill(latest_code(smtp, EMAIL))
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("heading", name="Confirm your email address")).to_have_count(0)  # page.url waits for nothing
        if "/keys/add" not in page.url:
            page.goto("/account/security/keys/add")
    notice = page.locator("#webauthn-address")
    expect(notice).to_contain_text("is an IP address")
    page.get_by_label("Name").fill("USB key")
    page.get_by_role("button", name="Add").click()
    error = page.locator("[data-webauthn-error]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("is an IP address")
    expect(error).not_to_contain_text("https")
