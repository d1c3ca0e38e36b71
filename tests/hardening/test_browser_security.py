"""Browser security: headers on every page (crawled from app.url_map), cookies under https, session
rotation at sign-in and step-up, and CSRF on every form post (crawled; the OAuth back-channel is exempt)."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from idp.app import csrf
from idp.models import BrowserSession
from tests.support.browser import Browser
from tests.support.factors import code_at, enrol_totp
from tests.support.oidc import authorize_url, pkce_pair

from .helpers import EMAIL, signed_in, snapshot, start

# POST routes that take no CSRF token, on purpose: OAuth/OIDC endpoints called by relying parties (server to
# server, or a cross-site form/redirect by design). Everything else that accepts POST must refuse one without.
CSRF_EXEMPT = {"oauth.token", "oauth.revoke", "oauth.introspect", "oauth.userinfo", "oauth.authorize",
               "oauth.end_session"}
SAMPLE_ARGS = {"int": "1", "string": "x", "default": "x", "path": "x"}


def _url(rule) -> str:  # noqa: ANN001
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", lambda m: SAMPLE_ARGS.get(m.group(1) or "default", "1"),
                  rule.rule)


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


@pytest.fixture
def admin_browser(app, factory, rp) -> Browser:  # noqa: ANN001
    """A browser signed in as an administrator (so account and admin pages render)."""
    factory.user(EMAIL, admin=True)
    browser = Browser(client=app.test_client())
    done, _ = start(browser, rp)
    assert signed_in(done, rp), done.text[:2000]
    return browser


def assert_page_headers(response, what: str) -> None:  # noqa: ANN001
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (what, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (what, csp)
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp, (what, csp)
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy") == "no-referrer", what
    if response.mimetype == "text/html":
        assert "no-store" in headers.get("Cache-Control", ""), what


def test_every_get_route_sends_the_security_headers(app, admin_browser):  # noqa: ANN001
    client = admin_browser.client
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        response = client.get(_url(rule))
        assert_page_headers(response, rule.rule)
        seen += 1
    assert seen > 20
    assert_page_headers(client.get("/no/such/page"), "404")
    assert_page_headers(client.get("/static/style.css"), "static")


def test_forms_of_account_and_admin_pages_may_post_only_to_the_idp(admin_browser):  # noqa: ANN001
    """Sign-in forms must be allowed to end at the application (any origin); Profile > Security and
    Administration forms never leave the IdP, so their CSP says form-action 'self' only."""
    client = admin_browser.client
    for path in ("/account/security", "/admin/"):
        csp = client.get(path).headers["Content-Security-Policy"]
        assert "form-action 'self';" in csp, (path, csp)
    assert "form-action 'self' http: https:;" in client.get("/login").headers["Content-Security-Policy"]


def test_pages_with_codes_send_no_referrer(app, factory, rp, services, frozen_clock):
    """The authorization response (code in the Location) and every sign-in page: Referrer-Policy no-referrer."""
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    browser = Browser(client=app.test_client())
    verifier, challenge = pkce_pair()
    response = browser.client.get(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page, _ = start(browser, rp)
    form = page.form("code")
    response = browser.client.post("/login", data={**form.fields, "code": code_at(secret, frozen_clock)})
    assert response.status_code == 302 and "code=" in response.headers["Location"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_no_hsts_over_http(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


class TestHttps:
    @pytest.fixture
    def issuer(self) -> str:
        return "https://idp.example"

    def test_cookies_are_host_prefixed_and_secure_through_a_whole_sign_in(self, app, factory, rp):
        factory.user(EMAIL)
        client = app.test_client()
        cookies: list[str] = []

        def get(url: str):  # noqa: ANN202
            response = client.get(url, base_url="https://idp.example")
            cookies.extend(response.headers.getlist("Set-Cookie"))
            return response

        page = get(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))   # the sign-in page itself
        from tests.support.forms import form_with
        form = form_with(page.get_data(as_text=True), "password")
        done = client.post("/login", data={**form.fields, "email": EMAIL, "password": "correct horse battery staple"},
                           base_url="https://idp.example")
        cookies.extend(done.headers.getlist("Set-Cookie"))
        assert done.status_code == 302 and done.headers["Location"].startswith(rp.redirect_uri)
        assert cookies
        for cookie in cookies:
            assert cookie.startswith("__Host-"), cookie
            assert "; Secure" in cookie and "; Path=/" in cookie and "Domain=" not in cookie, cookie
            assert "HttpOnly" in cookie, cookie
        assert done.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"

    def test_remember_cookie_would_be_secure_too(self, app):
        assert app.config["REMEMBER_COOKIE_NAME"].startswith("__Host-")
        assert app.config["REMEMBER_COOKIE_SECURE"] is True and app.config["REMEMBER_COOKIE_HTTPONLY"] is True


# --------------------------------------------------------------------------- session rotation

def test_sign_in_rotates_the_session(app, factory, rp):
    """A cookie captured before the sign-in (session fixation) is worth nothing after it."""
    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    before = browser.client.get_cookie("idp_session").value
    done = browser.sign_in(page, EMAIL, "correct horse battery staple")
    assert signed_in(done, rp)
    after = browser.client.get_cookie("idp_session").value
    assert after != before
    attacker = app.test_client()
    attacker.set_cookie("idp_session", before)
    assert attacker.get("/account/security").status_code == 302          # not signed in with the old cookie
    assert browser.client.get("/account/security").status_code == 200


def test_step_up_makes_a_new_browser_session(app, factory, rp, services, frozen_clock):
    """Asking for acr=mfa on a password-only session: the second factor runs, then a NEW session (sid)
    replaces the old one, and the old one is ended."""
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    browser = Browser(client=app.test_client())
    page, _ = start(browser, rp)
    done = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert signed_in(done, rp)
    with services.database.session() as db:
        first = db.scalar(sa.select(BrowserSession.sid))
    frozen_clock.advance(seconds=31)
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1], prompt="login"))
    page = browser.sign_in(page, EMAIL, "correct horse battery staple")
    done = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert signed_in(done, rp), done.text[:1500]
    with services.database.session() as db:
        rows = {row.sid: row.ended_at for row in db.scalars(sa.select(BrowserSession))}
    assert len(rows) == 2 and rows[first] is not None
    assert [sid for sid, ended in rows.items() if ended is None] != [first]


# --------------------------------------------------------------------------- CSRF

def test_the_csrf_exempt_views_are_exactly_the_documented_ones(app):
    exempt = {endpoint for endpoint, view in app.view_functions.items()
              if f"{view.__module__}.{view.__name__}" in csrf._exempt_views}
    assert exempt == CSRF_EXEMPT


def test_every_form_post_without_a_csrf_token_is_refused_and_changes_nothing(app, admin_browser, services):
    client = admin_browser.client
    # the SCIM and administration APIs (blueprints `scim`, `adminapi`) are CSRF-exempt: bearer tokens only,
    # cookies never authenticate them (tests/scim/test_access.py::test_cookies_never_authenticate_the_scim_api,
    # tests/adminapi/test_bearer.py::test_no_token_is_401_with_a_challenge_and_no_error_code)
    posts = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods and rule.endpoint not in CSRF_EXEMPT
             and not rule.endpoint.startswith(("scim.", "adminapi."))]
    assert len(posts) >= 10
    data = {"email": "mallory@example.com", "password": "x" * 20, "code": "123456", "tx": "1", "step": "0",
            "choice": "0", "confirm": "yes", "decision": "allow", "name": "Mallory", "method": "totp"}
    before = snapshot(services, skip=())
    for rule in posts:
        response = client.post(_url(rule), data=data)
        assert response.status_code == 400, (rule.rule, response.status_code)
        assert "This form has expired" in response.get_data(as_text=True), rule.rule
    assert snapshot(services, skip=()) == before
    assert client.get("/account/security").status_code == 200   # still signed in: nothing happened


def test_adding_a_second_factor_rotates_the_browser_session(app, factory, rp, services, frozen_clock):
    import pyotp

    from tests.support.forms import forms
    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    done, _ = start(browser, rp)
    assert signed_in(done, rp)
    with services.database.session() as db:
        before = db.scalar(sa.select(BrowserSession.sid).where(BrowserSession.ended_at.is_(None)))
    page = browser.open("/account/security/enable")
    form = next(f for f in forms(page.text) if f.action == "/account/security/enable/totp")
    page = browser.open(form.action, "POST", form.fields)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    page = browser.submit(page, "code", {"code": pyotp.TOTP(secret).at(frozen_clock.current)})
    assert "recovery" in page.text.lower()
    with services.database.session() as db:
        after = db.scalar(sa.select(BrowserSession.sid).where(BrowserSession.ended_at.is_(None)))
    assert after != before
