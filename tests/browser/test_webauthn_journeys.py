"""Security keys and passkeys in a real browser: headless Chromium with its virtual authenticator (CDP
WebAuthn domain), so static/webauthn.js really calls navigator.credentials.create() / .get(). WebAuthn needs a
secure context: the issuer is http://localhost:<port> (RP id "localhost")."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from idp.models import BrowserSession, SecondFactor, WebAuthnCredential
from tests.support.servers import ReservedPort
from tests.support.factory import PASSWORD

from .conftest import DESKTOP

pytestmark = pytest.mark.browser

EMAIL = "alice@example.com"


@pytest.fixture
def issuer(live_port: ReservedPort) -> str:
    return f"http://localhost:{live_port.number}"


@pytest.fixture
def context(chromium, live_server, issuer):  # noqa: ANN001, ANN201
    context = chromium.new_context(base_url=issuer, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def virtual_authenticator(context, page: Page, transport: str) -> tuple[object, str]:  # noqa: ANN001
    """A CTAP2 authenticator in this page that holds resident keys and verifies the user (PIN/biometric)."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": transport, "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def credentials(cdp, authenticator_id: str) -> list[dict]:  # noqa: ANN001
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def password_step(page: Page) -> None:
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()   # "Sign in with a passkey" is listed too


def sign_out(page: Page) -> None:
    page.get_by_label(f"Account menu for {EMAIL}").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()


def add_key(page: Page, name: str) -> None:
    page.get_by_role("link", name="Add a security key or passkey").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Add", exact=True).click()


def latest_session_amr(services) -> list[str]:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalars(sa.select(BrowserSession).order_by(BrowserSession.id.desc())).first().amr


def test_security_key_register_sign_in_as_second_factor_and_remove(context, page: Page, alice, services,
                                                                      frozen_clock):  # noqa: ANN001
    cdp, authenticator = virtual_authenticator(context, page, "usb")
    page.goto("/account/security")
    password_step(page)
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    add_key(page, "Virtual YubiKey")
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    expect(page.locator("#recovery-code-list code")).to_have_count(10)
    page.get_by_role("link", name="I have saved my codes").click()
    expect(page.get_by_role("rowheader", name="Virtual YubiKey")).to_be_visible()
    assert len(credentials(cdp, authenticator)) == 1
    page.get_by_role("link", name="Add a security key or passkey").click()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()   # a factor exists now
    page.get_by_role("button", name="Use your security key or passkey").click()
    page.get_by_label("Name").fill("The same key again")   # excludeCredentials: the browser refuses
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("already registered to your account")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    with services.database.session() as db:
        stored = db.scalar(sa.select(WebAuthnCredential))
        assert stored.transports == ["usb"] and stored.discoverable is True
    sign_out(page)

    # the second factor after the password: the key
    page.goto("/account/security")
    password_step(page)
    expect(page.get_by_role("button", name="Use your security key or passkey")).to_be_visible()
    page.screenshot(path="/tmp/webauthn-second-factor.png", full_page=True)
    page.get_by_role("button", name="Use your security key or passkey").click()
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    assert latest_session_amr(services) == ["pwd", "hwk", "mfa"]
    page.screenshot(path="/tmp/webauthn-security-page.png", full_page=True)
    expect(page.get_by_role("row", name=re.compile("Virtual YubiKey"))).not_to_contain_text("Never")   # last used

    # remove it (the sign-in just now is the fresh proof)
    page.get_by_role("link", name="Remove Virtual YubiKey").click()
    expect(page.get_by_role("heading", name="Remove Security key?")).to_be_visible()
    page.get_by_role("button", name="Remove Security key").click()
    expect(page.get_by_text("was removed from your account")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Virtual YubiKey")).to_have_count(0)
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id))) == 0


class TestPasskey:
    @pytest.fixture
    def config_overrides(self) -> dict:
        return {"policy": {"default_flow": "passkey"}}

    def test_passwordless_sign_in_with_a_passkey(self, context, page: Page, alice, services, frozen_clock):  # noqa: ANN001
        cdp, authenticator = virtual_authenticator(context, page, "internal")
        page.goto("/account/security")
        expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
        page.get_by_text("Try another way").click()
        page.get_by_role("button", name="Password").click()
        password_step(page)
        add_key(page, "This laptop")
        page.get_by_role("link", name="I have saved my codes").click()
        expect(page.get_by_role("rowheader", name="This laptop")).to_be_visible()
        [credential] = credentials(cdp, authenticator)
        assert credential["isResidentCredential"] is True
        sign_out(page)

        page.goto("/account/security")
        page.get_by_role("button", name="Sign in with a passkey").click()
        expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
        expect(page.get_by_text(f"Signed in as {EMAIL}")).to_be_visible()
        assert latest_session_amr(services) == ["swk", "user", "mfa"]
