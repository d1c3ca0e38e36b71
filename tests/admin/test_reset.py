"""Administration > Users > "Reset Two-Factor Authentication", end to end: the admin finds the user, proves
it's them (fresh second factor or password), resets; the user is signed out everywhere, emailed, and must
set up a new second factor at the next sign-in; the audit log shows both."""
from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.models import (BrowserSession, OtpChallenge, Organisation, RecoveryCode, SecondFactor, Token, User)
from tests.admin.helpers import (add_totp, audit_events, code_for, csrf_token, enrol_totp, main, path_of, post,
                                 sign_in)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair


@pytest.fixture
def rp(factory, orgs):  # noqa: ANN001, ANN201
    return factory.client(org="acme", refresh_tokens=True)


@pytest.fixture
def victim(orgs, services, frozen_clock) -> str:  # noqa: ANN001
    """acme's user, enrolled (authenticator app + recovery codes + a pending emailed code); acme enforces
    2FA and its grace period is long over."""
    with services.database.session() as db:
        org = db.get(Organisation, orgs["acme"].id)
        org.enforced_since = frozen_clock.current - timedelta(days=60)
        user = db.get(User, orgs["acme"].user_id)
        user.created_at = frozen_clock.current - timedelta(days=90)
        secret = add_totp(db, services, user)
        db.add(OtpChallenge(user_id=user.id, channel="email", purpose="login", code_digest="x" * 64,
                            created_at=frozen_clock.current, expires_at=frozen_clock.current + timedelta(minutes=5)))
    return secret


def counts(services, user_id: int) -> tuple[int, int, int]:  # noqa: ANN001
    with services.database.session() as db:
        return tuple(db.scalar(sa.select(sa.func.count(m.id)).where(m.user_id == user_id))
                     for m in (SecondFactor, RecoveryCode, OtpChallenge))


def user_signs_in_to_rp(browser, rp, email: str, secret: str | None, frozen_clock):  # noqa: ANN001, ANN201
    verifier, challenge = pkce_pair()
    page = browser.sign_in(browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge,
                                                      scope="openid email offline_access")), email, PASSWORD)
    if secret is not None:
        frozen_clock.advance(seconds=31)
        page = browser.submit(page, "code", {"code": code_for(secret)})
    return page, verifier


def test_reset_journey_end_to_end(browser, admin_browser, client, rp, orgs, victim, services, mailbox, frozen_clock):
    acme = orgs["acme"]
    # the user is signed in to the application, with a refresh token
    user_browser = admin_browser()
    done, verifier = user_signs_in_to_rp(user_browser, rp, acme.user, victim, frozen_clock)
    assert done.location.startswith(rp.redirect_uri), done.text[:2000]
    code = dict(p.split("=", 1) for p in done.location.split("?", 1)[1].split("&"))["code"]
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    tokens = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": rp.redirect_uri, "code_verifier": verifier},
                         headers={"Authorization": f"Basic {basic}"}).get_json()
    assert "refresh_token" in tokens
    # the admin: Administration > Users, search, open, Reset Two-Factor Authentication
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    listing = browser.open("/admin/users?q=Acme+User")
    assert acme.user in main(listing) and acme.admin not in main(listing)
    detail = browser.open(f"/admin/users/{acme.user_id}")
    assert "Authenticator App" in detail.text and '<strong id="recovery-left">10</strong>' in detail.text
    assert "Reset Two-Factor Authentication" in detail.text
    confirm = browser.open(f"/admin/users/{acme.user_id}/reset-2fa")
    assert 'name="reason"' in confirm.text            # signed in with a second factor just now: fresh
    done = browser.submit(confirm, "reason", {"reason": "lost phone, identity checked by video call",
                                              "confirm_reset": "yes"})
    assert path_of(done.url) == f"/admin/users/{acme.user_id}" and "was reset" in done.text
    assert "No second factor set up." in done.text
    assert counts(services, acme.user_id) == (0, 0, 0)
    # signed out everywhere, refresh token revoked, told by email
    assert 'name="password"' in user_browser.open("/account/security").text
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(BrowserSession.id)).where(
            BrowserSession.user_id == acme.user_id, BrowserSession.ended_at.is_(None))) == 0
        assert all(t.revoked_at is not None for t in db.scalars(sa.select(Token).where(Token.user_id == acme.user_id)))
    refreshed = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                            headers={"Authorization": f"Basic {basic}"})
    assert refreshed.status_code == 400
    notices = mailbox.to(acme.user)
    assert notices and "An administrator reset the two-factor authentication of your account." in notices[-1].body
    # the user signs in: enrolment first, then the application
    again = admin_browser()
    enrol, _ = user_signs_in_to_rp(again, rp, acme.user, None, frozen_clock)
    if 'id="code"' in enrol.text and 'name="method"' not in enrol.text:   # email on: first confirm the address
        import re
        sent = re.search(r"\b(\d{6})\b", mailbox.to(acme.user)[-1].body).group(1)
        enrol = again.submit(enrol, "code", {"code": sent})
    assert 'name="method"' in enrol.text
    finished, _ = enrol_totp(again, enrol)
    assert finished.location and finished.location.startswith(rp.redirect_uri)
    # the audit log shows both
    events = [(e.event, e.actor) for e in audit_events(services, acme.id)]
    reset_at = events.index(("second_factor_reset", f"user:{acme.admin}"))
    assert ("second_factor_enrolled", f"user:{acme.user}") in events[reset_at:]
    entry = audit_events(services, acme.id, "second_factor_reset")[-1]
    assert entry.target == acme.user and entry.details["reason"] == "lost phone, identity checked by video call"
    assert entry.details["factors_removed"] == ["totp"] and entry.details["recovery_codes_removed"] == 10
    assert entry.details["sessions_ended"] == 1 and entry.details["user_notified"] is True
    log = browser.open(f"/admin/audit?user={acme.user}")
    assert "second_factor_reset" in log.text and "second_factor_enrolled" in log.text


def test_reset_inside_the_grace_period_still_requires_enrolment_at_the_next_sign_in(
        browser, admin_browser, rp, orgs, services, frozen_clock):
    acme = orgs["acme"]   # enforced just now with 7 days of grace
    with services.database.session() as db:
        add_totp(db, services, db.get(User, acme.user_id))
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    confirm = browser.open(f"/admin/users/{acme.user_id}/reset-2fa")
    browser.submit(confirm, "reason", {"reason": "lost device", "confirm_reset": "yes"})
    enrol, _ = user_signs_in_to_rp(admin_browser(), rp, acme.user, None, frozen_clock)
    assert 'name="method"' in enrol.text and "days left" not in enrol.text


def test_reset_where_2fa_is_not_required_lets_the_user_in_with_the_password(
        browser, admin_browser, factory, orgs, services, frozen_clock):
    globex = orgs["globex"]
    rp = factory.client(org="globex")
    with services.database.session() as db:
        add_totp(db, services, db.get(User, globex.user_id))
    sign_in(browser, globex.admin, services=services, frozen=frozen_clock)
    browser.submit(browser.open(f"/admin/users/{globex.user_id}/reset-2fa"), "reason",
                   {"reason": "lost device", "confirm_reset": "yes"})
    done, _ = user_signs_in_to_rp(admin_browser(), rp, globex.user, None, frozen_clock)
    assert done.location and done.location.startswith(rp.redirect_uri)


def test_the_admin_must_prove_it_is_them_again_after_ten_minutes(browser, orgs, victim, services, frozen_clock):
    acme = orgs["acme"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    frozen_clock.advance(minutes=11)
    page = browser.open(f"/admin/users/{acme.user_id}/reset-2fa")
    assert "Confirm it's you" in page.text and 'name="reason"' not in page.text
    # a post made without fresh proof changes nothing
    from tests.admin.helpers import csrf_token, post
    token = csrf_token(browser)
    stale = post(browser, f"/admin/users/{acme.user_id}/reset-2fa", {"reason": "x", "confirm_reset": "yes"}, token)
    assert stale.status_code == 302 and counts(services, acme.user_id)[0] == 1
    # "Confirm it's you": the sign-in flow asks for the admin's second factor (not the password), then returns
    challenge = browser.submit(page, "next", {})
    assert 'name="code"' in challenge.text and 'name="password"' not in challenge.text
    frozen_clock.advance(seconds=31)
    from tests.admin.helpers import totp_secret
    back = browser.submit(challenge, "code", {"code": code_for(totp_secret(services, acme.admin))})
    assert path_of(back.url) == f"/admin/users/{acme.user_id}/reset-2fa" and 'name="reason"' in back.text
    done = browser.submit(back, "reason", {"reason": "lost phone", "confirm_reset": "yes"})
    assert "was reset" in done.text and counts(services, acme.user_id) == (0, 0, 0)


def test_an_admin_without_a_second_factor_cannot_reset_anyone(browser, orgs, services, frozen_clock):
    """Issue 13: administrators must have a second factor (this replaces "confirms with the password")."""
    globex = orgs["globex"]
    with services.database.session() as db:
        db.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == globex.admin_id))
        add_totp(db, services, db.get(User, globex.user_id))
    sign_in(browser, globex.admin, services=services, frozen=frozen_clock, target="/account/security")
    page = browser.open(f"/admin/users/{globex.user_id}/reset-2fa")
    assert path_of(page.url) == "/account/security/enable" and "administrators must use a second factor" in page.text
    token = csrf_token(browser, "/account/security")
    response = post(browser, f"/admin/users/{globex.user_id}/reset-2fa", {"reason": "x", "confirm_reset": "yes"},
                    token)
    assert response.status_code == 302 and path_of(response.headers["Location"]) == "/account/security/enable"
    assert counts(services, globex.user_id)[0] == 1


def test_an_admin_cannot_reset_their_own_2fa_here(browser, orgs, services, frozen_clock):
    acme = orgs["acme"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    page = browser.open(f"/admin/users/{acme.admin_id}")
    assert "Reset Two-Factor Authentication</a>" not in page.text
    from tests.admin.helpers import csrf_token, post
    response = post(browser, f"/admin/users/{acme.admin_id}/reset-2fa",
                    {"reason": "me", "confirm_reset": "yes"}, csrf_token(browser))
    assert response.status_code == 400 and "cannot reset your own" in response.get_data(as_text=True)
    assert counts(services, acme.admin_id)[0] == 1


def test_a_reset_needs_a_reason_and_the_confirmation(browser, orgs, victim, services, frozen_clock):
    acme = orgs["acme"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    page = browser.open(f"/admin/users/{acme.user_id}/reset-2fa")
    no_reason = browser.submit(page, "reason", {"reason": "  ", "confirm_reset": "yes"})
    assert no_reason.status == 400 and "Reason" in no_reason.text
    unconfirmed = browser.submit(page, "reason", {"reason": "lost"})
    assert unconfirmed.status == 400 and "Tick the box" in unconfirmed.text
    assert counts(services, acme.user_id)[0] == 1
    assert not audit_events(services, acme.id, "second_factor_reset")
