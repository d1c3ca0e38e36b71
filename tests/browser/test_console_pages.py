"""The console and the sign-in pages in real headless Chromium at 1280 and 390 pixels: no page wider than
the phone, the side navigation and breadcrumbs, the Users list by 2FA state, the audit log in sentences with
its verification, the one confirm pattern for destructive actions, an organisation's branding applied
without inline styles (no CSP violation anywhere), the root URL and the way back after signing out.

With IDP_SCREENSHOTS=DIR (scripts/screenshots.py sets it) the walk also saves the screenshots shown in the
README."""
from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Page, expect

from idp import audit, clock
from idp.administration import branding
from idp.audit import Actor
from idp.factors import enrolled, recovery, totp
from idp.models import AuditEvent, Client, Organisation, User
from tests.support.factory import PASSWORD

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser

ADMIN = "ada@acme.example.com"
SHOTS = os.environ.get("IDP_SCREENSHOTS")
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}


def _logo() -> bytes:
    image = Image.new("RGBA", (160, 48), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 4, 40, 44), radius=8, fill="#8a1538")
    draw.polygon([(10, 34), (20, 12), (30, 34)], fill="white")
    draw.text((50, 9), "ACME", fill="#8a1538", font=ImageFont.load_default(size=28))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _totp(db, services, user: User) -> str:  # noqa: ANN001
    factor = totp.start_enrolment(db, services, user)
    enrolled.activate(db, user, factor)
    recovery.generate(db, services, user)
    return totp.factor_secret(services, factor)


@pytest.fixture
def acme(factory, services, frozen_clock):  # noqa: ANN001, ANN201
    """Acme requires 2FA (14 days' grace, enforced 20 days ago): an admin with an authenticator app, people in
    every 2FA state, a branded look, an application, and an audit log with reasons."""
    factory.org("acme", name="Acme Field Service", domains=("acme.example.com",), require_2fa=True, grace_days=14)
    factory.user(ADMIN, org="acme", admin=True, name="Ada Admin")
    people = [("bob@acme.example.com", "Bob Builder"), ("carla@acme.example.com", "Carla Díaz"),
              ("dev@acme.example.com", "Dev Patel"), ("erin@acme.example.com", "Erin Okafor"),
              ("contractor@acme.example.com", "Finn Contractor"), ("gina@acme.example.com", "Gina Grace")]
    people += [(f"tech{i:02d}@acme.example.com", f"Field Technician {i:02d}") for i in range(30)]
    for email, name in people:
        factory.user(email, org="acme", name=name, groups=("contractors",) if "contractor" in email else ())
    registered = factory.client("http://127.0.0.1:9/callback", logout_uris=("http://127.0.0.1:9/",))
    own = factory.client("http://127.0.0.1:9/acme", org="acme")      # an application of Acme only
    now = frozen_clock.current
    with services.database.session() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.slug == "acme"))
        org.enforced_since, org.exempt_groups = now - timedelta(days=20), ["contractors"]
        by = {u.email: u for u in db.scalars(sa.select(User).where(User.organisation_id == org.id))}
        for user in by.values():
            user.created_at = now - timedelta(days=90)
            user.last_login_at = now - timedelta(hours=len(user.email))
        by["gina@acme.example.com"].created_at = now - timedelta(days=3)
        secret = _totp(db, services, by[ADMIN])
        for email in ("bob@acme.example.com", "carla@acme.example.com", "erin@acme.example.com"):
            _totp(db, services, by[email])
        by["erin@acme.example.com"].otp_locked_until = now + timedelta(minutes=30)
        admin = Actor(name=f"user:{ADMIN}")
        branding.save(db, org, admin, display_name="Acme Field Service", accent_colour="#8a1538", logo=_logo(),
                      remove_logo=False, now=now)
        audit.record(db, "second_factor_reset", admin, organisation_id=org.id, target=by["bob@acme.example.com"].email,
                     target_user_id=by["bob@acme.example.com"].id, details={"reason": "lost phone (ticket #42)"})
        audit.record(db, "grace_period_extended", admin, organisation_id=org.id, target="dev@acme.example.com",
                     details={"days": 7, "reason": "on a ship until Friday"})
    return {"secret": secret, "client": registered, "acme_client": own}


def sign_in(page: Page, secret: str, target: str) -> None:
    page.goto(target)
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code = page.locator("input[name=code]")
    expect(code).to_be_visible()
    code.fill(pyotp.TOTP(secret).at(clock.now()))
    code.press("Enter")


def fits(page: Page, width: int) -> None:
    """The page itself never scrolls sideways (tables reflow or scroll inside their own box)."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    wide = [] if scroll <= width else page.evaluate("""w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w).slice(0, 8)
        .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""", width)
    assert scroll <= width, f"{page.url} is {scroll}px wide at {width}px: {wide}"


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def csp_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return errors


CONSOLE = [("users", "/admin/users"), ("settings-security", "/admin/settings/security"),
           ("branding", "/admin/settings/branding"), ("audit-log", "/admin/audit?verify=1"),
           ("overview", "/admin/"), ("clients", "/admin/clients"), ("rollout", "/admin/settings/security/rollout"),
           ("account", "/account/security"), ("sso", "/admin/settings/sso"), ("user-new", "/admin/users/new"),
           ("audit-filtered", "/admin/audit?event=second_factor_reset"), ("users-overdue", "/admin/users?state=overdue")]


def test_console_pages_fit_the_phone_and_the_desktop(page: Page, acme, services, csp_errors):
    sign_in(page, acme["secret"], "/admin/")
    with services.database.session() as db:
        bob = db.scalar(sa.select(User.id).where(User.email == "bob@acme.example.com"))
        client_pk = db.scalar(sa.select(Client.id).where(Client.client_id == acme["acme_client"].client_id))
    pages = [*CONSOLE, ("user", f"/admin/users/{bob}"), ("reset", f"/admin/users/{bob}/reset-2fa"),
             ("client", f"/admin/clients/{client_pk}")]
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        for name, path in pages:
            page.goto(path)
            expect(page.locator("h1").first).to_be_visible()
            fits(page, size["width"])
            if name in ("users", "user", "settings-security", "branding", "audit-log"):
                shot(page, f"console-{name}-{label}")
    assert csp_errors == []


def test_side_navigation_names_the_organisation_and_breadcrumbs_say_where(page: Page, acme):
    sign_in(page, acme["secret"], "/admin/")
    side = page.locator(".console-side")
    expect(side).to_contain_text("Acme Field Service")
    nav = page.get_by_role("navigation", name="Administration")
    for name in ("Users", "Settings > Security", "Settings > Single Sign-On", "Clients", "Audit log"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    nav.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="bob@acme.example.com").click()
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.locator("li")).to_have_text(["Administration", "Users", "bob@acme.example.com"])
    expect(nav.get_by_role("link", name="Users")).to_have_attribute("aria-current", "page")
    crumbs.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()


def test_find_users_by_two_factor_state(page: Page, acme):
    sign_in(page, acme["secret"], "/admin/users")
    numbers = page.locator("#rollout-numbers")
    expect(numbers.locator("[data-state=overdue] strong")).to_have_text("31")   # 30 technicians and dev
    expect(numbers.locator("[data-state=grace] strong")).to_have_text("1")
    page.get_by_label("Two-factor state").select_option("locked")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("erin@acme.example.com")
    expect(rows.first).to_contain_text("Locked")
    numbers.locator("[data-state=grace]").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Gina Grace")
    page.goto("/admin/users?state=overdue")
    expect(page.locator("#user-count")).to_have_text("31 users · Overdue")
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(page.get_by_label("Two-factor state")).to_have_value("overdue")


def test_audit_log_in_sentences_and_its_verification(page: Page, acme):
    sign_in(page, acme["secret"], "/admin/audit")
    expect(page.get_by_text("Ada Admin reset Bob Builder's two-factor authentication — reason: lost phone "
                            "(ticket #42)")).to_be_visible()
    expect(page.get_by_text("Ada Admin gave Dev Patel 7 days more to set up two-factor authentication — reason: on "
                            "a ship until Friday")).to_be_visible()
    expect(page.locator("table.audit")).not_to_contain_text('{"')
    page.get_by_role("link", name="Verify the log").click()
    expect(page.locator("#chain-state")).to_contain_text("Intact")
    page.get_by_label("Event").select_option("grace_period_extended")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.audit tbody tr")).to_have_count(1)


def test_disabling_a_user_uses_the_one_confirm_pattern(page: Page, acme, services):
    sign_in(page, acme["secret"], "/admin/users?q=carla")
    page.get_by_role("link", name="carla@acme.example.com").click()
    page.set_viewport_size(PHONE)
    danger = page.locator(".danger-zone")
    expect(danger.get_by_role("link", name="Reset Two-Factor Authentication")).to_be_visible()
    danger.get_by_text("Disable…").click()
    reason = danger.get_by_label("Reason")
    expect(reason).to_be_visible()
    fits(page, PHONE["width"])
    danger.get_by_role("button", name="Disable", exact=True).click()      # no reason: the browser asks for one
    expect(page.locator("#status")).to_contain_text("Active")
    reason.fill("left the company (ticket #77)")
    danger.get_by_role("button", name="Disable", exact=True).click()
    expect(page.get_by_text("carla@acme.example.com is disabled and signed out everywhere.")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("Disabled")
    with services.database.session() as db:
        entry = db.scalar(sa.select(AuditEvent).where(AuditEvent.event == "user_disabled"))
        assert entry.details["reason"] == "left the company (ticket #77)"


def test_branding_changes_the_colour_without_inline_styles(page: Page, acme, csp_errors):
    sign_in(page, acme["secret"], "/admin/settings/branding")
    expect(page.locator(".brand-name")).to_have_text("Acme Field Service")
    expect(page.locator("img.brand-logo")).to_be_visible()
    assert page.evaluate("document.querySelector('img.brand-logo').naturalWidth") == 160
    save = page.get_by_role("button", name="Save")
    expect(save).to_have_css("background-color", "rgb(138, 21, 56)")                   # #8a1538
    page.get_by_label("Accent colour").fill("#1b5e20")
    save.click()
    expect(page.get_by_text("Branding saved.")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_css("background-color", "rgb(27, 94, 32)")
    page.get_by_label("Accent colour").fill("pink")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#accent-error")).to_have_text("Accent colour: give a colour as #rrggbb, for example #0b5cad")
    expect(page.get_by_label("Accent colour")).to_have_attribute("aria-invalid", "true")
    page.locator("#logo").set_input_files(files=[{"name": "evil.svg", "mimeType": "image/svg+xml",
                                                      "buffer": b"<svg xmlns='http://www.w3.org/2000/svg'/>"}])
    page.get_by_label("Accent colour").fill("#1b5e20")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#logo-error")).to_contain_text("SVG is not accepted")
    assert csp_errors == []


def _authorize_url(registered) -> str:  # noqa: ANN001
    from tests.support.oidc_client import pkce_pair
    _, challenge = pkce_pair()
    return "/authorize?" + urlencode({
        "response_type": "code", "client_id": registered.client_id, "redirect_uri": registered.redirect_uri,
        "scope": "openid email", "state": "s1", "nonce": "n1", "code_challenge": challenge,
        "code_challenge_method": "S256"})


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_sign_in_pages_say_where_you_are_and_fit(page: Page, acme, size, csp_errors):
    width = WIDTHS[size]
    page.set_viewport_size(width)
    page.goto(_authorize_url(acme["client"]))
    expect(page.locator("#signin-context")).to_have_text("to continue to Test app")
    expect(page.locator(".brand-name")).to_have_text("Fentu FSM")          # nobody known yet: the neutral look
    fits(page, width["width"])
    shot(page, f"signin-password-{size}")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("input[name=password]")).to_be_visible()
    fits(page, width["width"])
    shot(page, f"signin-password-error-{size}")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("input[name=code]")).to_be_visible()
    expect(page.locator("#signin-context")).to_contain_text(ADMIN)
    expect(page.locator("#signin-context")).to_contain_text("to continue to Test app")
    expect(page.locator(".brand-name")).to_have_text("Acme Field Service")   # the organisation is known now
    fits(page, width["width"])
    try_another = page.locator(".try-another")
    if try_another.count():
        gap = page.evaluate("""() => {
            const button = [...document.querySelectorAll('main button[type=submit]')].find(b => !b.closest('.try-another'));
            return document.querySelector('.try-another').getBoundingClientRect().top - button.getBoundingClientRect().bottom;
        }""")
        assert gap >= 24, f"'Try another way' is only {gap}px below the button"
    shot(page, f"signin-totp-{size}")
    assert csp_errors == []


def test_an_application_of_one_organisation_shows_its_branding_from_the_first_page(page: Page, acme):
    page.goto(_authorize_url(acme["acme_client"]))
    expect(page.locator(".brand-name")).to_have_text("Acme Field Service")
    expect(page.locator("img.signin-logo")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_have_css("background-color", "rgb(138, 21, 56)")


def test_root_url_and_the_way_back_after_signing_out(page: Page, acme):
    page.goto("/")
    expect(page.get_by_role("heading", name="Fentu FSM sign-in service")).to_be_visible()
    sign_in(page, acme["secret"], "/account/security")
    page.goto("/")
    assert page.url.endswith("/account/security")
    page.goto("/logout?" + urlencode({"client_id": acme["client"].client_id}))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    expect(page.get_by_role("link", name="Return to Test app")).to_have_attribute("href", "http://127.0.0.1:9/")
