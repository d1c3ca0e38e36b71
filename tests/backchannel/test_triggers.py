"""Every way a browser session ends tells the applications it signed in to (OpenID Connect Back-Channel
Logout 1.0): a relying party's endpoint receives a Logout Token it can validate against our JWKS, naming
the session (`sid`, as in its ID token) and the person (`sub`)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import sqlalchemy as sa

from idp.account_recovery import passwords
from idp.account_recovery import tokens as recovery_tokens
from idp.administration import users as admin_users
from idp.administration.permissions import operator_scope
from idp.audit import Actor
from idp.browser import sessions
from idp.clock import now
from idp.models import BrowserSession, User
from tests.scim.conftest import Scim, make_token
from tests.support.browser import Browser
from tests.support.factory import PASSWORD
from tests.support.forms import forms

from .conftest import audit_events, check_logout_token, deliver, signed_in

NEW_PASSWORD = "violet tangerine harbour cactus"


def _user(db, email: str = "alice@example.com") -> User:  # noqa: ANN001
    return db.scalar(sa.select(User).where(User.email == email))


def _post_form(browser: Browser, page, action: str, **values: str):  # noqa: ANN001, ANN202
    form = next(f for f in forms(page.text) if f.action == action)
    return browser.open(action, "POST", {**form.fields, **values})


def test_rp_initiated_logout_tells_every_application_of_the_session(make_rp, receiver, alice, services):
    first = make_rp()
    second = make_rp(browser=first.browser)
    quiet = make_rp(None, browser=first.browser)                 # registered no back-channel logout URI
    one, two = signed_in(first), signed_in(second)
    signed_in(quiet)
    assert one["claims"]["sid"] == two["claims"]["sid"]          # one browser session, one sid
    page = first.browser.open("/logout?" + urlencode({"id_token_hint": one["id_token"]}))
    assert page.status == 200 and "signed out" in page.text.lower()
    received = receiver.tokens()
    assert len(received) == 2
    by_audience = {rp.client_id: rp for rp in (first, second)}
    for token in received:
        rp = by_audience.pop(first.id_token_claims(token)["aud"])
        check_logout_token(token, rp, sub=one["claims"]["sub"], sid=one["claims"]["sid"])
    assert by_audience == {}                                      # each application told once
    with services.database.session() as db:
        cookie_sid = db.scalar(sa.select(BrowserSession.sid))
    assert cookie_sid != one["claims"]["sid"], "the sid given to applications is not the browser cookie value"


def test_the_idps_own_sign_out_tells_the_applications(make_rp, receiver, alice):
    rp = make_rp()
    signed = signed_in(rp)
    page = rp.browser.open("/account/security")
    out = _post_form(rp.browser, page, "/logout")
    assert out.status == 200
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sub=signed["claims"]["sub"], sid=signed["claims"]["sid"])


def test_sign_out_one_browser_from_profile(make_rp, receiver, alice, app):
    rp = make_rp()
    elsewhere = signed_in(rp)                                     # the browser to sign out from another one
    mine = Browser(client=app.test_client())
    page = mine.sign_in(mine.open("/account/security"), "alice@example.com", PASSWORD)
    other = next(f for f in forms(page.text) if f.action.startswith("/account/security/sessions/")
                 and f.action.endswith("/end") and f.action != "/account/security/sessions/end-others")
    done = mine.open(other.action, "POST", other.fields)
    assert done.status == 200 and "is signed out" in done.text
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sid=elsewhere["claims"]["sid"])


def test_sign_out_everywhere_else_from_profile(make_rp, receiver, alice, app):
    rp = make_rp()
    elsewhere = signed_in(rp)
    mine = Browser(client=app.test_client())
    here = make_rp(browser=mine)
    signed_in(here)                                               # this browser's session is kept: not told
    page = mine.open("/account/security")
    _post_form(mine, page, "/account/security/sessions/end-others")
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sid=elsewhere["claims"]["sid"])


def test_an_administrator_disabling_the_account(make_rp, receiver, alice, services):
    rp = make_rp()
    signed = signed_in(rp)
    with services.database.session() as db:
        user = _user(db)
        admin_users.set_active(db, operator_scope(user.organisation_id), user, False, "left the company",
                               Actor("cli:test"), now=now())
    assert receiver.tokens() == []                                # queued with the change, sent after it
    deliver(services)
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sub=signed["claims"]["sub"], sid=signed["claims"]["sid"])


def test_an_administrator_resetting_two_factor_authentication(make_rp, receiver, alice, services):
    rp = make_rp()
    signed = signed_in(rp)
    with services.database.session() as db:
        user = _user(db)
        admin_users.reset_2fa(db, services, operator_scope(user.organisation_id), user, "lost phone",
                              Actor("cli:test"), now=now())
    deliver(services)
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sid=signed["claims"]["sid"])


def test_scim_deactivation_and_deletion(make_rp, receiver, alice, services, client):
    scim = Scim(client, make_token(services, "default"))
    rp = make_rp()
    signed = signed_in(rp)
    user_id = scim.get("/Users", filter='userName eq "alice@example.com"').json["Resources"][0]["id"]
    reply = scim.patch(f"/Users/{user_id}", {"op": "replace", "path": "active", "value": False})
    assert reply.status_code == 200
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sub=signed["claims"]["sub"], sid=signed["claims"]["sid"])

    receiver.clear()                          # enabled again and signed in again: then deleted
    assert scim.patch(f"/Users/{user_id}", {"op": "replace", "path": "active", "value": True}).status_code == 200
    again = signed_in(rp)
    assert scim.delete(f"/Users/{user_id}").status_code == 204
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sub=signed["claims"]["sub"], sid=again["claims"]["sid"])


def test_a_password_reset_signs_out_everywhere(make_rp, receiver, alice, services):
    rp = make_rp()
    signed = signed_in(rp)
    with services.database.session() as db:      # the reset link's token, as the email carries it
        link = recovery_tokens.issue(db, _user(db), recovery_tokens.PASSWORD_RESET, passwords.RESET_TTL)
    with services.database.session() as db:
        passwords.reset_password(db, services, link, NEW_PASSWORD, NEW_PASSWORD, Actor("t"))
    deliver(services)
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sid=signed["claims"]["sid"])


def test_a_password_change_signs_out_the_other_browsers(make_rp, receiver, alice, app):
    rp = make_rp()
    elsewhere = signed_in(rp)
    mine = Browser(client=app.test_client())
    here = make_rp(browser=mine)
    signed_in(here)
    page = mine.open("/account/security/password")
    done = _post_form(mine, page, "/account/security/password", current_password=PASSWORD,
                      password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert "Your password was changed" in done.text
    (token,) = receiver.tokens()                                  # only the other browser's applications
    check_logout_token(token, rp, sid=elsewhere["claims"]["sid"])


def _outdate_sign_ins(services) -> None:  # noqa: ANN001
    """The password changed after the sign-in without its sessions ending (e.g. by a server of before
    this check): enforcement refuses the session at the next issuance."""
    with services.database.session() as db:
        _user(db).password_changed_at = now() + timedelta(minutes=1)


def test_a_session_refused_by_enforcement_at_authorize(make_rp, receiver, alice, services):
    rp = make_rp()
    signed = signed_in(rp)
    _outdate_sign_ins(services)
    params, _ = rp.params(prompt="none")
    page = rp.open_authorize(params)
    assert "login_required" in (page.location or "")
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sid=signed["claims"]["sid"])
    with services.database.session() as db:
        assert sessions.unended(db, db.scalar(sa.select(BrowserSession.sid))) is None


def test_a_session_refused_by_enforcement_at_refresh(make_rp, receiver, alice, services):
    rp = make_rp(refresh_tokens=True)
    signed = signed_in(rp)
    _outdate_sign_ins(services)
    refused = rp.refresh(signed["refresh_token"])
    assert (refused.status, refused.error) == (400, "invalid_grant")
    (event,) = audit_events(services, "session_refused")
    assert (event.details["at"], event.details["reason"]) == ("refresh", "password_changed")
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sid=signed["claims"]["sid"])


def test_signing_in_again_in_the_same_browser_tells_nobody(make_rp, receiver, alice):
    rp = make_rp()
    signed_in(rp)
    signed_in(rp, prompt="login")                                 # a new session replaces the old one
    assert receiver.tokens() == []


def test_another_person_signing_in_in_the_same_browser_ends_the_first_ones_session(make_rp, receiver, alice,
                                                                                     factory):
    factory.user("bob@example.com", name="Bob")
    rp = make_rp()
    first = signed_in(rp)
    signed_in(rp, email="bob@example.com", prompt="login")
    (token,) = receiver.tokens()
    check_logout_token(token, rp, sub=first["claims"]["sub"], sid=first["claims"]["sid"])
