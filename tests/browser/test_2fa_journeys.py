"""The main two-factor journeys in a real browser (headless Chromium): set up an authenticator app from
Profile > Security and sign in with it; sign in with a recovery code; regenerate recovery codes."""
from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from idp.factors import recovery
from idp.models import User
from tests.support.factors import enrol_totp, give_recovery_codes
from tests.support.factory import PASSWORD

from .conftest import PHONE

pytestmark = pytest.mark.browser

EMAIL = "alice@example.com"
SCREENSHOTS = Path("/tmp")


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def code_now(secret: str, clock) -> str:  # noqa: ANN001
    return pyotp.TOTP(secret.replace(" ", "")).at(clock.current)


def password_step(page: Page) -> None:
    page.goto("/account/security")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def open_profile(page: Page) -> None:
    """The avatar menu, top right → "Profile" → its "Security" section."""
    page.get_by_label(f"Account menu for {EMAIL}").click()
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_label(f"Account menu for {EMAIL}").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()


def test_enrol_authenticator_app_then_sign_in_with_it(page: Page, alice, services, frozen_clock):
    password_step(page)
    open_profile(page)
    page.get_by_role("link", name="Enable Two-Factor Authentication").click()
    expect(page.get_by_text("Recommended", exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "2fa-enable-desktop.png"), full_page=True)
    page.get_by_role("button", name="Authenticator App").click()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{4}", secret)
    page.screenshot(path=str(SCREENSHOTS / "2fa-authenticator-setup.png"), full_page=True)

    page.get_by_label("Type the 6-digit code shown in your authenticator app").fill(code_now(secret, frozen_clock))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    expect(page.locator("#recovery-code-list code")).to_have_count(10)
    codes = page.locator("#recovery-code-list code").all_inner_texts()
    assert len(codes) == 10

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").split() == codes
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename.endswith(".txt")
    saved = Path(download.value.path()).read_text()
    assert all(code in saved.splitlines() for code in codes)

    page.get_by_role("link", name="I have saved my codes").click()
    expect(page.get_by_text("10 of 10 recovery codes left")).to_be_visible()
    sign_out(page)

    frozen_clock.advance(seconds=30)   # the next code (the one used to set up cannot be used again)
    password_step(page)
    page.get_by_label("Code from your authenticator app").fill(code_now(secret, frozen_clock))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()
    expect(page.get_by_text("Two-factor authentication is on")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Authenticator App")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "2fa-security-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / "2fa-security-phone.png"), full_page=True)


def test_sign_in_with_a_recovery_code_lands_on_security(page: Page, alice, services, frozen_clock):
    enrol_totp(services, EMAIL)
    codes = give_recovery_codes(services, EMAIL)
    password_step(page)
    page.get_by_role("button", name="Use a recovery code instead").click()   # on the prompt itself (the manual)
    page.get_by_label("Recovery code").fill(codes[0].upper())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/account/security\?recovery_used=1$"))
    notice = page.locator("#recovery-notice")
    expect(notice).to_contain_text("You signed in with a recovery code")
    expect(notice).to_contain_text("9 recovery codes left")
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / "2fa-recovery-notice-phone.png"), full_page=True)


def test_regenerate_recovery_codes(page: Page, alice, services, frozen_clock):
    secret = enrol_totp(services, EMAIL)
    old = give_recovery_codes(services, EMAIL)
    password_step(page)
    page.get_by_label("Code from your authenticator app").fill(code_now(secret, frozen_clock))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()

    frozen_clock.advance(minutes=6)    # the sign-in no longer counts as a fresh proof
    page.get_by_role("link", name="Regenerate Recovery Codes").click()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / "2fa-confirm-phone.png"), full_page=True)
    page.get_by_label("Type the 6-digit code shown in your authenticator app").fill(code_now(secret, frozen_clock))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Regenerate Recovery Codes")).to_be_visible()
    expect(page.get_by_text("the previous set stops working immediately")).to_be_visible()
    page.get_by_role("button", name="Regenerate Recovery Codes").click()
    expect(page.get_by_role("heading", name="Your new recovery codes")).to_be_visible()
    expect(page.locator("#recovery-code-list code")).to_have_count(10)
    new = page.locator("#recovery-code-list code").all_inner_texts()
    assert len(new) == 10 and not set(new) & set(old)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / "2fa-new-codes-phone.png"), full_page=True)

    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        assert not recovery.consume(db, services, user, old[1])      # the previous set is invalid
        assert recovery.remaining(db, user) == 10
