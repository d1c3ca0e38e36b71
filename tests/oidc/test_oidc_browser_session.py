"""The browser side of a sign-in: cookie flags, session id rotation, one message for every wrong
credential, password-manager hints, CSRF tokens on forms."""
from __future__ import annotations

import re

import sqlalchemy as sa

from idp.models import BrowserSession, LoginTransaction
from tests.support.browser import Browser
from tests.support.factory import PASSWORD
from tests.support.oidc_client import Rp, counts, query_of


def _session_cookie(client, name: str = "idp_session"):  # noqa: ANN001, ANN202
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def _login_page(rp: Rp):  # noqa: ANN202
    params, _ = rp.params()
    page = rp.open_authorize(params)
    assert 'name="password"' in page.text
    return page


def test_session_cookie_is_httponly_and_samesite_lax_not_secure_on_http(client, rp):
    params, _ = rp.params()
    response = client.get("/authorize", query_string=params)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("idp_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie


def test_login_page_has_password_manager_hints_and_csrf_token(rp):
    page = _login_page(rp)
    assert re.search(r'<input[^>]*name="email"[^>]*autocomplete="username"', page.text)
    assert re.search(r'<input[^>]*name="password"[^>]*autocomplete="current-password"', page.text)
    assert re.search(r'<input[^>]*type="password"', page.text)
    form = page.form("password")
    assert form.method == "post" and form.fields.get("csrf_token")


def test_every_form_on_the_sign_in_pages_carries_a_csrf_token(make_rp, alice):
    rp = make_rp(consent=True)
    pages = [_login_page(rp)]
    pages.append(rp.browser.sign_in(pages[0], "alice@example.com", PASSWORD))       # consent page
    from urllib.parse import urlencode
    pages.append(rp.browser.open("/logout?" + urlencode({"client_id": rp.client_id})))  # confirmation
    from tests.support.forms import forms
    for page in pages:
        posting = [f for f in forms(page.text) if f.method == "post"]
        assert posting, page.text[:300]
        for form in posting:
            assert form.fields.get("csrf_token"), (form.action, page.url)


def test_session_id_changes_at_sign_in(client, rp, services):
    page = _login_page(rp)
    before = _session_cookie(client)
    assert before
    done = rp.browser.sign_in(page, "alice@example.com", PASSWORD)
    assert "code" in query_of(done.location)
    after = _session_cookie(client)
    assert after and after != before

    # the pre-sign-in cookie, replayed elsewhere, is not signed in
    replay = client.application.test_client()
    replay.set_cookie("idp_session", before)
    replay_rp = Rp(replay, Browser(client=replay), rp.reg, rp.issuer)
    params, _ = replay_rp.params(prompt="none")
    assert query_of(replay_rp.open_authorize(params).location)["error"] == "login_required"


def test_signing_in_again_replaces_the_session(client, rp, services):
    rp.sign_in()
    first_cookie = _session_cookie(client)
    page = rp.open_authorize(rp.params(prompt="login")[0])
    rp.browser.sign_in(page, "alice@example.com", PASSWORD)
    with services.database.session() as db:
        rows = db.scalars(sa.select(BrowserSession).order_by(BrowserSession.id)).all()
        assert len(rows) == 2 and rows[0].ended_at is not None and rows[1].ended_at is None
        assert rows[0].sid != rows[1].sid
    old = client.application.test_client()
    old.set_cookie("idp_session", first_cookie)
    old_rp = Rp(old, Browser(client=old), rp.reg, rp.issuer)
    params, _ = old_rp.params(prompt="none")
    assert query_of(old_rp.open_authorize(params).location)["error"] == "login_required"


def _normalised(text: str, *emails: str) -> str:
    text = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', text)
    text = re.sub(r'name="tx" value="[^"]*"', 'name="tx" value=""', text)
    for email in emails:
        text = text.replace(email, "EMAIL")
    return text


def test_unknown_email_and_wrong_password_get_the_same_page(make_rp, alice, app, services):
    rp = make_rp()
    wrong_password = rp.browser.sign_in(_login_page(rp), "alice@example.com", "not the password")
    other_http = app.test_client()
    other = Rp(other_http, Browser(client=other_http), rp.reg, rp.issuer)
    unknown = other.browser.sign_in(_login_page(other), "nobody@example.com", "not the password")
    assert wrong_password.status == unknown.status == 200
    assert "The email address or password is not correct." in wrong_password.text
    assert _normalised(wrong_password.text, "alice@example.com") == \
        _normalised(unknown.text, "nobody@example.com")
    assert counts(services)["sessions"] == 0 and counts(services)["codes"] == 0


def test_login_post_without_csrf_token_is_400_and_changes_nothing(rp, services):
    page = _login_page(rp)
    form = page.form("password")
    with services.database.session() as db:
        tx_before = db.scalar(sa.select(LoginTransaction))
        state_before, failures_before = tx_before.state, tx_before.failures
    before = counts(services)
    data = {**form.fields, "email": "alice@example.com", "password": PASSWORD}
    data.pop("csrf_token")
    refused = rp.browser.open(form.action, "POST", data)
    assert refused.status == 400 and refused.location is None
    bad_token = rp.browser.open(form.action, "POST", {**data, "csrf_token": "forged"})
    assert bad_token.status == 400
    assert counts(services) == before
    with services.database.session() as db:
        tx = db.scalar(sa.select(LoginTransaction))
        assert (tx.state, tx.failures, tx.status) == (state_before, failures_before, "active")
    # the real form still works afterwards
    done = rp.browser.sign_in(page, "alice@example.com", PASSWORD)
    assert "code" in query_of(done.location)


def test_sign_in_pages_cannot_be_framed_or_cached(rp):
    page = rp.client.get("/authorize", query_string=rp.params()[0], follow_redirects=True)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
