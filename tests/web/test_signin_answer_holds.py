"""An application's answer that has to wait holds the login transaction (the recovery-code notice, then
consent), each step can be resumed by this browser only while it waits, and never after the code is issued."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import AuthorizationCode, LoginTransaction
from tests.support.factors import EMAIL, enrol_totp, give_recovery_codes
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.oidc import authorize_url, pkce_pair

COOKIE = "idp_session"


def _codes(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode))


def _statuses(services) -> list[str]:  # noqa: ANN001
    with services.database.session() as db:
        return list(db.scalars(sa.select(LoginTransaction.status).order_by(LoginTransaction.id)))


def _post_form(browser, page, button: str, value: str):  # noqa: ANN001, ANN202
    form = next(f for f in forms(page.text) if any(b.get("name") == button for b in f.buttons) or button in f.fields)
    return browser.open(form.action or page.url, "POST", {**form.fields, button: value})


def test_recovery_notice_then_consent_then_one_code(app, browser, client, factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    codes = give_recovery_codes(services, EMAIL)
    app_rp = factory.client(consent=True)
    page = browser.open(authorize_url(app_rp.client_id, app_rp.redirect_uri, pkce_pair()[1]))
    page = browser.sign_in(page, EMAIL, PASSWORD)
    cookie_at_code = client.get_cookie(COOKIE).value
    notice = browser.submit(browser.choose(page, "Use a recovery code instead"), "code", {"code": codes[0]})
    assert "You signed in with a recovery code" in notice.text
    assert _statuses(services) == ["signed_in"]
    cookie_at_notice = client.get_cookie(COOKIE).value
    consent = browser.submit(notice, "resume", {})
    assert consent.url.endswith("/consent") and "Allow" in consent.text, (consent.status, consent.url)
    assert _statuses(services) == ["signed_in"]
    cookie_at_consent = client.get_cookie(COOKIE).value
    page = consent
    done = _post_form(browser, page, "decision", "allow")
    assert done.location.startswith(app_rp.redirect_uri) and "code=" in done.location
    assert _statuses(services) == ["done"] and _codes(services) == 1
    csrf = dict(forms(page.text)[0].fields)["csrf_token"]
    for old in (cookie_at_notice, cookie_at_consent):     # the same signed-in cookie's CSRF secret
        client.set_cookie(COOKIE, old)
        again = client.post("/authorize/continue", data={"csrf_token": csrf})
        assert again.status_code == 400 and "no application waiting" in again.get_data(as_text=True)
        client.set_cookie(COOKIE, old)
        again = client.post("/consent", data={"decision": "allow", "csrf_token": csrf})
        assert again.status_code == 400 and "no pending request" in again.get_data(as_text=True)
    client.set_cookie(COOKIE, cookie_at_code)             # the sign-in's own cookie: its handle was rotated
    assert client.get("/authorize/continue").status_code == 400
    assert _codes(services) == 1
