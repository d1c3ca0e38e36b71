"""After the sign-in, the application's request is answered from its login transaction, once.

The browser's signed cookie holds only a handle: no copy of the authorization request (a signed cookie can
be replayed: a copy in it could be answered again). Consent and the recovery-code notice continue from the
transaction; once the code (or error) is issued it cannot be resumed again."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import AuthorizationCode
from tests.support.factors import EMAIL, enrol_totp, give_recovery_codes, rp, start  # noqa: F401 (fixture)
from tests.support.forms import forms
from tests.support.oidc import authorize_url, pkce_pair

COOKIE = "idp_session"


def _cookie(client) -> str:  # noqa: ANN001
    return client.get_cookie(COOKIE).value


def _put_back(client, value: str) -> None:  # noqa: ANN001
    client.set_cookie(COOKIE, value)


def _session(app, client) -> dict:  # noqa: ANN001
    return dict(app.session_interface.get_signing_serializer(app).loads(_cookie(client)))


def _codes(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode))


def _post_form(browser, page, button: str, value: str):  # noqa: ANN001, ANN202
    form = next(f for f in forms(page.text) if any(b.get("name") == button for b in f.buttons) or button in f.fields)
    data = {**form.fields, button: value}
    return browser.open(form.action or page.url, "POST", data)


def test_a_replayed_consent_cookie_cannot_get_a_second_code(app, browser, client, factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    app_rp = factory.client(consent=True)
    _, challenge = pkce_pair()
    page = browser.sign_in(browser.open(authorize_url(app_rp.client_id, app_rp.redirect_uri, challenge)), EMAIL,
                           "correct horse battery staple")
    assert "Allow Test app?" in page.text
    assert "redirect_uri" not in str(_session(app, client)), "the session carries a copy of the request"
    before_decision = _cookie(client)
    done = _post_form(browser, page, "decision", "allow")
    assert done.location.startswith(app_rp.redirect_uri) and "code=" in done.location
    _put_back(client, before_decision)
    replay = _post_form(browser, page, "decision", "allow")
    assert replay.status == 400 and replay.location is None
    assert _codes(services) == 1


def test_a_replayed_recovery_notice_cannot_get_a_second_code(app, browser, client, factory, rp,  # noqa: ANN001, F811
                                                             services):
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    codes = give_recovery_codes(services, EMAIL)
    page, _ = start(browser, rp)
    notice = browser.submit(browser.choose(page, "Use a recovery code instead"), "code", {"code": codes[0]})
    assert "You signed in with a recovery code" in notice.text
    assert "redirect_uri" not in str(_session(app, client)), "the session carries a copy of the request"
    before_continue = _cookie(client)
    done = browser.submit(notice, "resume", {})
    assert done.location.startswith(rp.redirect_uri) and "code=" in done.location
    _put_back(client, before_continue)
    replay = browser.submit(notice, "resume", {})
    assert replay.status == 400 and replay.location is None
    assert _codes(services) == 1


def test_continue_without_a_signed_in_transaction_is_refused(client):  # noqa: ANN001
    response = client.get("/authorize/continue")
    assert response.status_code == 400 and "There is no application waiting for you" in response.get_data(as_text=True)
