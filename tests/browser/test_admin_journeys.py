"""The main Administration journeys in a real browser (headless Chromium): sign in through the flow
(password, then the admin's authenticator app), enable organisation-wide 2FA enforcement with no grace
period after reading the warning and the number of users it blocks, and reset a user's 2FA."""
from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from idp import clock
from idp.factors import enrolled, recovery, totp
from idp.models import AuditEvent, Organisation, RecoveryCode, SecondFactor, User
from tests.support.factory import PASSWORD

ADMIN = "admin@acme.example.com"
USER = "user@acme.example.com"

pytestmark = pytest.mark.browser


def _totp(db, services, user: User) -> str:  # noqa: ANN001
    factor = totp.start_enrolment(db, services, user)
    enrolled.activate(db, user, factor)
    recovery.generate(db, services, user)
    return totp.factor_secret(services, factor)


@pytest.fixture
def acme(factory, services):  # noqa: ANN001, ANN201
    """acme: 2FA not required yet; an admin with an authenticator app; users without and with one."""
    factory.org("acme", name="Acme", domains=("acme.example.com",))
    factory.user(ADMIN, org="acme", admin=True, name="Ada Admin")
    factory.user(USER, org="acme", name="Una User")
    factory.user("new@acme.example.com", org="acme", name="Nia New")
    with services.database.session() as db:
        by = {u.email: u for u in db.scalars(sa.select(User))}
        secrets = {ADMIN: _totp(db, services, by[ADMIN]), USER: _totp(db, services, by[USER])}
    return secrets


def sign_in_as_admin(page: Page, secret: str, target: str) -> None:
    page.goto(target)
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code = page.locator("input[name=code]")
    expect(code).to_be_visible()
    code.fill(pyotp.TOTP(secret).at(clock.now()))
    code.press("Enter")


def test_enable_enforcement_with_the_zero_grace_warning(page: Page, acme, services):
    sign_in_as_admin(page, acme[ADMIN], "/account/security")
    page.get_by_label(f"Account menu for {ADMIN}").click()
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Settings > Security").click()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()
    page.get_by_label("Require Two-Factor Authentication").check()
    page.get_by_label("Grace period").fill("0")
    page.get_by_role("button", name="Save", exact=True).click()
    warning = page.get_by_role("alert")
    expect(warning).to_contain_text("Enforcing 2FA immediately (with no grace period) will block all users who have "
                                    "not yet set up a second factor.")
    expect(page.locator("#blocked-count")).to_have_text("1 user")       # new@ only: the others have a factor
    page.screenshot(path="/tmp/admin-zero-grace-warning.png", full_page=True)
    with services.database.session() as db:
        assert db.scalar(sa.select(Organisation).where(Organisation.slug == "acme")).require_2fa is False
    page.get_by_role("button", name="Enforce now and save").click()
    expect(page.get_by_text("Security settings saved.")).to_be_visible()
    expect(page.get_by_label("Require Two-Factor Authentication")).to_be_checked()
    with services.database.session() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.slug == "acme"))
        assert org.require_2fa is True and org.grace_days == 0 and org.enforced_since is not None
        entry = db.scalar(sa.select(AuditEvent).where(AuditEvent.event == "security_settings_changed"))
        assert entry.actor == f"user:{ADMIN}" and entry.details["new"]["require_2fa"] is True


def test_reset_a_users_2fa(page: Page, acme, services):
    sign_in_as_admin(page, acme[ADMIN], "/admin/")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.get_by_label("Search by name or email").fill("una")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=USER).click()
    expect(page.get_by_role("heading", name="Una User")).to_be_visible()
    expect(page.locator("#recovery-left")).to_have_text("10")
    page.get_by_role("link", name="Reset Two-Factor Authentication").click()
    expect(page.get_by_role("heading", name="Reset Two-Factor Authentication")).to_be_visible()
    page.get_by_label("Reason").fill("Lost phone; identity checked by a video call")
    page.get_by_label(f"I checked the identity of {USER}").check()
    page.screenshot(path="/tmp/admin-reset-2fa.png", full_page=True)
    page.get_by_role("button", name="Reset Two-Factor Authentication").click()
    expect(page.get_by_text(f"Two-factor authentication of {USER} was reset")).to_be_visible()
    expect(page.locator("#no-factors")).to_be_visible()
    expect(page.locator("#recovery-left")).to_have_text("0")
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == USER))
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id)).where(SecondFactor.user_id == user.id)) == 0
        assert db.scalar(sa.select(sa.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id)) == 0
        entry = db.scalar(sa.select(AuditEvent).where(AuditEvent.event == "second_factor_reset"))
        assert entry.target == USER and entry.details["reason"] == "Lost phone; identity checked by a video call"


def test_an_older_sign_in_must_confirm_before_resetting(page: Page, acme, services, frozen_clock):
    sign_in_as_admin(page, acme[ADMIN], "/admin/users")
    frozen_clock.advance(minutes=11)
    with services.database.session() as db:
        user_id = db.scalar(sa.select(User.id).where(User.email == USER))
    page.goto(f"/admin/users/{user_id}/reset-2fa")
    page.get_by_role("button", name="Confirm it's you").click()
    code = page.locator("input[name=code]")
    expect(code).to_be_visible()
    frozen_clock.advance(seconds=31)
    code.fill(pyotp.TOTP(acme[ADMIN]).at(clock.now()))
    code.press("Enter")
    expect(page.get_by_label("Reason")).to_be_visible()
    assert page.url.endswith(f"/admin/users/{user_id}/reset-2fa")
