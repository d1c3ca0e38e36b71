"""Issuance follows the person's CURRENT policy (issue 12 item 3): an existing browser session gets a code
(also with prompt=none), and a refresh token a new token, only while the sign-in behind it still satisfies
the organisation's 2FA requirement, and no reset, removed factor, password change or disabled account has
overtaken it. Otherwise: sign in again (prompt=none: login_required), invalid_grant with the family
revoked, and an audit entry with the reason."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.clock import now
from idp.models import Organisation, RememberedBrowser, SecondFactor, User
from tests.support.factors import audit_events, code_at, enrol_totp, require_2fa
from tests.support.factory import PASSWORD
from tests.support.oidc_client import Authorization, counts

EMAIL = "alice@example.com"
OFFLINE = "openid email offline_access"


def _update_user(services, **values) -> None:  # noqa: ANN001, ANN003
    """Change the account behind the IdP's back (as another worker, the CLI or an operator would)."""
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        for key, value in values.items():
            setattr(user, key, value)


def _with_factor(rp, secret: str, clock, **extra) -> Authorization:  # noqa: ANN001, ANN003
    """A full sign-in: password, then the authenticator app's code (ticking "remember" when asked)."""
    params, verifier = rp.params(**extra)
    page = rp.open_authorize(params)
    page = rp.browser.sign_in(page, EMAIL, PASSWORD)
    clock.advance(seconds=30)
    page = rp.browser.submit(page, "code", {"code": code_at(secret, clock), **extra.get("form", {})})
    assert page.location and page.location.startswith(rp.reg.redirect_uri), page.text[:2000]
    return Authorization(page.location, params, verifier)


def _silent(rp) -> dict[str, str]:  # noqa: ANN001
    """prompt=none with the browser's current session: the query sent back to the client."""
    params, _ = rp.params(prompt="none")
    page = rp.open_authorize(params)
    assert page.location and page.location.startswith(rp.reg.redirect_uri), page.text[:2000]
    return dict(Authorization(page.location, params, None).query)


def _refused(rp, services, reason: str) -> None:  # noqa: ANN001
    """No code for the session, with prompt=none or without; the refusal audited with its reason."""
    before = counts(services)
    assert _silent(rp)["error"] == "login_required"
    params, _ = rp.params()
    page = rp.open_authorize(params)
    assert page.location is None and 'name="password"' in page.text      # sign in again through the flow
    assert counts(services)["codes"] == before["codes"]
    events = audit_events(services, "session_refused")
    assert events and events[-1].details["reason"] == reason and events[-1].details["at"] == "authorize"
    assert events[-1].outcome == "failure" and events[-1].details["client_id"] == rp.client_id


def _refresh_refused(rp, services, refresh_token: str, reason: str) -> None:  # noqa: ANN001
    reply = rp.refresh(refresh_token)
    assert (reply.status, reply.error) == (400, "invalid_grant") and "access_token" not in reply.json
    assert counts(services)["live_tokens"] == 0                          # the whole family is revoked
    assert rp.refresh(refresh_token).error == "invalid_grant"
    # the refusal at /authorize before ended the browser session (telling its applications, back-channel
    # logout) and so revoked its refresh tokens: a refresh refused by its own check is in tests/backchannel
    events = [e for e in audit_events(services, "session_refused") if e.details["at"] == "refresh"]
    assert all(e.details["reason"] == reason for e in events)


@pytest.fixture
def totp_secret(alice, services) -> str:  # noqa: ANN001
    return enrol_totp(services, EMAIL)


# --------------------------------------------------------------------------- organisation enforcement

def test_enforcement_without_grace_stops_a_password_only_session(rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    assert "code" in _silent(rp)                                          # signed in with the password only
    require_2fa(services, grace_days=0)

    _refused(rp, services, "second_factor_required")
    _refresh_refused(rp, services, tokens["refresh_token"], "second_factor_required")


def test_a_session_that_proved_a_second_factor_still_works_after_enforcement(rp, services, totp_secret,
                                                                            frozen_clock):
    done = _with_factor(rp, totp_secret, frozen_clock, scope=OFFLINE)
    tokens = rp.exchange(done).json
    require_2fa(services, grace_days=0)

    assert "code" in _silent(rp)
    reply = rp.refresh(tokens["refresh_token"])
    assert reply.status == 200 and reply.json["refresh_token"]
    assert audit_events(services, "session_refused") == []


def test_an_exempt_person_keeps_a_password_only_session(rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    _update_user(services, exempt_from_2fa=True)
    require_2fa(services, grace_days=0)

    assert "code" in _silent(rp)
    assert rp.refresh(tokens["refresh_token"]).status == 200


def test_inside_the_grace_period_a_password_only_session_still_works(rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    require_2fa(services, grace_days=14)

    assert "code" in _silent(rp)
    assert rp.refresh(tokens["refresh_token"]).status == 200


def test_a_remembered_browser_keeps_its_session_until_it_is_forgotten(rp, services, totp_secret, frozen_clock):
    with services.database.session() as db:
        db.scalar(sa.select(Organisation).where(Organisation.slug == "default")).remember_browser_days = 30
    _with_factor(rp, totp_secret, frozen_clock, form={"remember_browser": "yes"})
    with services.database.session() as db:       # signed out; the remember cookie stays
        db.execute(sa.text("UPDATE browser_session SET ended_at = created_at"))
    require_2fa(services, grace_days=0)
    tokens = rp.tokens(scope=OFFLINE)                                     # the password only: skipped 2FA
    assert "code" in _silent(rp)
    assert rp.refresh(tokens["refresh_token"]).status == 200

    with services.database.session() as db:       # "Forget all" on Profile > Security
        db.execute(sa.delete(RememberedBrowser))
    _refused(rp, services, "second_factor_required")


# --------------------------------------------------------------------------- changes to the account

def test_a_reset_of_two_factor_authentication_voids_factors_proved_before_it(rp, services, totp_secret,
                                                                            frozen_clock):
    done = _with_factor(rp, totp_secret, frozen_clock, scope=OFFLINE)
    tokens = rp.exchange(done).json
    frozen_clock.advance(seconds=60)
    _update_user(services, second_factor_reset_at=now())

    _refused(rp, services, "second_factor_reset")
    _refresh_refused(rp, services, tokens["refresh_token"], "second_factor_reset")


def test_removing_the_factor_the_session_proved_voids_it(rp, services, totp_secret, frozen_clock):
    done = _with_factor(rp, totp_secret, frozen_clock, scope=OFFLINE)
    tokens = rp.exchange(done).json
    with services.database.session() as db:
        db.execute(sa.delete(SecondFactor))

    _refused(rp, services, "factor_removed")
    _refresh_refused(rp, services, tokens["refresh_token"], "factor_removed")


def test_a_password_change_elsewhere_voids_the_session(frozen_clock, rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    frozen_clock.advance(seconds=60)
    _update_user(services, password_changed_at=now())

    _refused(rp, services, "password_changed")
    _refresh_refused(rp, services, tokens["refresh_token"], "password_changed")


def test_a_password_change_made_in_this_browser_keeps_its_session(frozen_clock, rp, services, browser):
    tokens = rp.tokens(scope=OFFLINE)
    frozen_clock.advance(seconds=60)
    page = browser.open("/account/security/password")
    page = browser.submit(page, "password", {"current_password": PASSWORD, "password": "a brand new passphrase 42",
                                             "confirm": "a brand new passphrase 42"})
    assert page.status == 302 or "Your password was changed" in page.text, page.text[:2000]
    assert audit_events(services, "password_changed")
    assert "code" in _silent(rp)
    assert rp.refresh(tokens["refresh_token"]).status == 200


def test_a_disabled_account_gets_no_code_and_no_refresh(rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    before = counts(services)
    _update_user(services, is_active=False)

    assert _silent(rp)["error"] == "login_required"
    assert counts(services)["codes"] == before["codes"]
    _refresh_refused(rp, services, tokens["refresh_token"], "account_disabled")


def test_nothing_changed_nothing_refused(frozen_clock, rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    frozen_clock.advance(minutes=10)
    assert "code" in _silent(rp)
    assert rp.refresh(tokens["refresh_token"]).status == 200
    assert audit_events(services, "session_refused") == []


def test_a_recovery_code_sign_in_of_someone_with_only_sms_is_not_taken_for_a_removed_factor(services, alice):
    """A recovery code (and a set-up at sign-in) proves "otp" whatever the factor: any factor left counts."""
    from idp.browser.session_policy import SignIn, check_session
    from tests.support.factors import enrol_side_channel

    enrol_side_channel(services, EMAIL, "sms", "+41790000000")
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        proved = SignIn(("pwd", "otp", "mfa"), now())
        assert check_session(db, services.config, user, proved, now=now()).ok
        db.execute(sa.delete(SecondFactor))
        assert str(check_session(db, services.config, user, proved, now=now()).reason) == "factor_removed"
