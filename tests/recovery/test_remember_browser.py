""""Don't ask again on this browser for N days": offered only where the organisation allows it, it skips the
second factor and never the password, the ID token says only "pwd", it is refused for a step-up (acr_values
MFA, max_age, prompt=login), and it is forgotten by a password change, a new factor, the administrator's 2FA
reset, "Forget" and "Forget all". The cookie holds a random token (a digest in the database), HttpOnly,
SameSite=Lax, Secure and __Host- under https."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from idp.administration import users as admin_users
from idp.administration.permissions import AdminScope
from idp.audit import Actor
from idp.clock import now
from idp.browser import remembered, sessions
from idp.models import AuditEvent, BrowserSession, Organisation, RememberedBrowser, User
from idp.security.secrets import digest
from tests.support.browser import Browser, Page
from tests.support.factors import code_at, enrol_totp, fresh, rp  # noqa: F401  (rp: fixture)
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.oidc import authorize_url, pkce_pair
from tests.webauthn.helpers import claims_of

EMAIL = "alice@example.com"
COOKIE = "idp_remember_browser"


@pytest.fixture
def alice(factory, services):  # noqa: ANN001, ANN201
    factory.user(EMAIL, name="Alice")
    set_days(services, 30)


@pytest.fixture
def secret(alice, services):  # noqa: ANN001, ANN201
    return enrol_totp(services, EMAIL)


def set_days(services, days: int) -> None:  # noqa: ANN001
    with services.database.session() as db:
        db.scalar(sa.select(Organisation).where(Organisation.slug == "default")).remember_browser_days = days


def authorize(browser: Browser, rp, **extra: str) -> tuple[Page, str]:  # noqa: ANN001
    verifier, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge, **extra))
    return page, verifier


def password(browser: Browser, rp, **extra: str) -> tuple[Page, str]:  # noqa: ANN001
    page, verifier = authorize(browser, rp, **extra)
    assert 'name="password"' in page.text, page.text[:2000]            # the password is always asked for
    return browser.sign_in(page, EMAIL, PASSWORD), verifier


def second_factor(browser: Browser, page: Page, secret: str, clock, remember: bool = False) -> Page:  # noqa: ANN001
    clock.advance(seconds=30)
    values = {"code": code_at(secret, clock)}
    if remember:
        values["remember_browser"] = "yes"
    return browser.submit(page, "code", values)


def sign_out_everywhere(services) -> None:  # noqa: ANN001
    """The browser's session ends (its remember cookie stays): the next /authorize starts a sign-in."""
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        sessions.end_all(db, user.id)


def remember_this_browser(browser, rp, secret, clock) -> None:  # noqa: ANN001
    page, _ = password(browser, rp)
    assert "Don't ask again on this browser for 30 days" in page.text
    done = second_factor(browser, page, secret, clock, remember=True)
    assert done.location.startswith(rp.redirect_uri)
    sign_out_everywhere(browser_services(browser))


def browser_services(browser):  # noqa: ANN001, ANN202
    return browser.client.application.extensions["idp"]


def rows(services) -> list[RememberedBrowser]:  # noqa: ANN001
    with services.database.session() as db:
        found = list(db.scalars(sa.select(RememberedBrowser)))
        db.expunge_all()
        return found


def test_not_offered_when_the_organisation_does_not_allow_it(browser, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    set_days(services, 0)
    page, _ = password(browser, rp)
    assert "Don't ask again" not in page.text
    second_factor(browser, page, secret, frozen_clock, remember=True)          # a forged tick does nothing
    assert rows(services) == [] and browser.client.get_cookie(COOKIE) is None


def test_a_remembered_browser_skips_only_the_second_factor(browser, client, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    cookie = browser.client.get_cookie(COOKIE)
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure and cookie.path == "/"
    assert cookie.max_age == 30 * 86400
    [row] = rows(services)
    assert row.token_digest == digest(cookie.value) and cookie.value not in row.token_digest
    frozen_clock.advance(days=3)
    done, verifier = password(browser, rp)                       # the password: yes; the second factor: no
    claims = claims_of(client, rp, done, verifier)
    assert claims["amr"] == ["pwd"] and claims["acr"] == "urn:fentu:acr:password"
    assert rows(services)[0].last_used_at == frozen_clock.current
    with services.database.session() as db:
        entry = db.scalars(sa.select(AuditEvent).where(AuditEvent.event == "sign_in")
                           .order_by(AuditEvent.id.desc())).first()
        assert entry.details["remembered_browser"] == "used" and entry.details["amr"] == ["pwd"]
        assert db.scalars(sa.select(BrowserSession).order_by(BrowserSession.id.desc())).first().amr == ["pwd"]


def test_a_wrong_password_is_still_refused(browser, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    page, _ = authorize(browser, rp)
    refused = browser.sign_in(page, EMAIL, "not the password")
    assert refused.location is None and "not correct" in refused.text


def test_the_remembered_profile_session_still_needs_a_fresh_proof(browser, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    assert "Profile" in page.text                                             # signed in with the password only
    assert "Confirm it" in browser.open("/account/security/recovery-codes/regenerate").text


@pytest.mark.parametrize("extra", [{"acr_values": "urn:fentu:acr:mfa"}, {"max_age": "3600"}, {"prompt": "login"}])
def test_refused_for_a_step_up_request(browser, client, rp, secret, services, frozen_clock, extra):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    page, verifier = password(browser, rp, **extra)
    assert "Code from your authenticator app" in page.text and page.location is None
    assert "Don't ask again" not in page.text                               # nor offered for such a request
    done = second_factor(browser, page, secret, frozen_clock, remember=True)
    assert claims_of(client, rp, done, verifier)["amr"] == ["pwd", "otp", "mfa"]
    assert len(rows(services)) == 1                                          # no second one from the forged tick


def test_forgotten_after_the_administrators_2fa_reset(browser, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    frozen_clock.advance(minutes=1)
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        scope = AdminScope(organisation_id=user.organisation_id, permissions=frozenset(), system=True)
        admin_users.reset_2fa(db, services, scope, user, "lost phone", Actor("cli:admin"), now=now())
    frozen_clock.advance(minutes=1)
    new_secret = enrol_totp(services, EMAIL)                   # set up again afterwards
    page, _ = password(browser, rp)
    assert "Code from your authenticator app" in page.text
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        assert remembered.find(db, user, browser.client.get_cookie(COOKIE).value) is None
    assert second_factor(browser, page, new_secret, frozen_clock).location


def test_forgotten_after_a_password_change(browser, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    frozen_clock.advance(minutes=1)
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)          # skipped the code
    assert "Profile" in page.text
    form = next(f for f in forms(browser.open("/account/security/password").text)
                if f.action == "/account/security/password")
    new = "violet tangerine harbour cactus"
    done = browser.open(form.action, "POST", {**form.fields, "current_password": PASSWORD, "password": new,
                                              "confirm": new})
    assert "Your password was changed" in done.text and rows(services) == []


def test_forgotten_after_a_new_factor(browser, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    from tests.support.factors import enrol_side_channel

    remember_this_browser(browser, rp, secret, frozen_clock)
    frozen_clock.advance(minutes=1)
    enrol_side_channel(services, EMAIL, "sms", "+447911123456")      # however it was added
    page, _ = password(browser, rp)
    assert "Code from your authenticator app" in page.text


def test_forget_and_forget_all_on_profile(app, browser, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    other = fresh(app)
    other.client.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0"
    remember_this_browser(other, rp, secret, frozen_clock)
    remember_this_browser(browser, rp, secret, frozen_clock)
    assert len(rows(services)) == 2
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    assert "Remembered browsers" in page.text and "Firefox on Windows" in page.text
    firefox = next(r for r in rows(services) if "Firefox" in (r.user_agent or ""))
    action = f"/account/security/remembered/{firefox.id}/forget"
    form = next(f for f in forms(page.text) if f.action == action)
    done = browser.open(action, "POST", form.fields)
    assert "will ask for your second factor again" in done.text and len(rows(services)) == 1
    form = next(f for f in forms(done.text) if f.action == "/account/security/remembered/forget-all")
    browser.open(form.action, "POST", form.fields)
    assert rows(services) == []
    sign_out_everywhere(services)
    page, _ = password(browser, rp)
    assert "Code from your authenticator app" in page.text


def test_a_cookie_of_another_account_does_not_count(browser, factory, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    factory.user("bob@example.com")
    bob_secret = enrol_totp(services, "bob@example.com")
    page, _ = authorize(browser, rp)
    page = browser.sign_in(page, "bob@example.com", PASSWORD)
    assert "Code from your authenticator app" in page.text
    assert second_factor(browser, page, bob_secret, frozen_clock).location


def test_a_tick_on_the_password_page_remembers_nothing(browser, rp, alice, services, frozen_clock):  # noqa: ANN001, F811
    page, _ = authorize(browser, rp)
    form = page.form("password")
    done = browser.open(form.action or page.url, "POST", {**form.fields, "email": EMAIL, "password": PASSWORD,
                                                          "remember_browser": "yes"})
    assert done.location and rows(services) == []                     # no second factor was proved


def test_expires_and_follows_the_organisations_setting(browser, client, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
    remember_this_browser(browser, rp, secret, frozen_clock)
    set_days(services, 7)
    frozen_clock.advance(days=8)                                       # shortened by the organisation
    page, _ = password(browser, rp)
    assert "Code from your authenticator app" in page.text
    assert "Don't ask again on this browser for 7 days" in page.text


class HttpsBrowser(Browser):
    def _raw(self, method: str, url: str, data: dict | None = None) -> Page:
        split = urlsplit(url)
        path = split.path + (f"?{split.query}" if split.query else "")
        response = self.client.open(path, method=method, data=data, follow_redirects=False, base_url=self.base)
        return Page(response.status_code, url, response.get_data(as_text=True), response.headers.get("Location"))


class TestUnderHttps:
    @pytest.fixture
    def issuer(self) -> str:
        return "https://idp.example"

    def test_the_cookie_is_secure_and_host_prefixed(self, client, rp, secret, services, frozen_clock):  # noqa: ANN001, F811
        browser = HttpsBrowser(client=client, base="https://idp.example")
        page, _ = password(browser, rp)
        assert second_factor(browser, page, secret, frozen_clock, remember=True).location
        cookie = client.get_cookie("__Host-idp_remember_browser", domain="idp.example")
        assert cookie is not None and cookie.secure and cookie.http_only and cookie.same_site == "Lax"
        assert cookie.path == "/" and not cookie.domain.startswith(".")
        assert client.get_cookie(COOKIE, domain="idp.example") is None
