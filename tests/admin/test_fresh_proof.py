"""Administrators and the proofs they owe.

Issue 12 item 5: every action that weakens another person's security (unlock, disable, enable, a longer
grace period, the exempt list, enforcement off or lower settings, single sign-on providers) needs the
administrator's fresh proof in THIS browser session, like the 2FA reset: a stale session is sent to
"Confirm it's you" and nothing is done; fresh, it is done and audited.

Issue 13: administrators must have a second factor and have used it in the current session before any
administration page (/admin and /admin/settings/sso); without one they are sent to set it up first."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from idp.models import BrowserSession, Organisation, SecondFactor, UpstreamProvider, User
from tests.support.factory import PASSWORD
from tests.admin.helpers import (audit_events, code_for, csrf_token, path_of, post, sign_in, snapshot,
                                 totp_secret)

STALE = {"minutes": 11}     # the re-proof window is 10 minutes


@pytest.fixture
def targets(orgs, services, frozen_clock) -> dict[str, int]:  # noqa: ANN001
    """globex: a locked user and a disabled one; acme (2FA required, 7 days grace): a user in grace."""
    with services.database.session() as db:
        locked = db.get(User, orgs["globex"].user_id)
        locked.otp_failures, locked.otp_locked_until = 5, frozen_clock.current + timedelta(minutes=30)
        disabled = User(subject="sub-disabled", organisation_id=orgs["globex"].id, email="gone@globex.example.com",
                        is_active=False, created_at=frozen_clock.current)
        db.add(disabled)
        db.flush()
        return {"locked": locked.id, "disabled": disabled.id, "in_grace": orgs["acme"].user_id}


# (admin org, path, form data, the audit event when it is done, what changed afterwards)
ACTIONS = {
    "unlock": ("globex", "/admin/users/{locked}/unlock", {"reason": "called the helpdesk"}, "user_unlocked"),
    "disable": ("globex", "/admin/users/{locked}/disable", {"reason": "left the company"}, "user_disabled"),
    "enable": ("globex", "/admin/users/{disabled}/enable", {"reason": "came back"}, "user_enabled"),
    "grace": ("acme", "/admin/users/{in_grace}/grace", {"days": "30", "reason": "travelling"},
              "grace_period_extended"),
    "enforcement off": ("acme", "/admin/settings/security", {"require_2fa": "", "grace_days": "7",
                                                             "allowed_methods": "totp"}, "security_settings_changed"),
    "longer grace": ("acme", "/admin/settings/security", {"require_2fa": "yes", "grace_days": "30",
                                                          "allowed_methods": "totp"}, "security_settings_changed"),
    "exempt user": ("acme", "/admin/settings/security", {"require_2fa": "yes", "grace_days": "7",
                                                         "allowed_methods": "totp",
                                                         "exempt_users": "user@acme.example.com"},
                    "security_settings_changed"),
    "exempt group": ("acme", "/admin/settings/security", {"require_2fa": "yes", "grace_days": "7",
                                                          "allowed_methods": "totp", "exempt_groups": "ops"},
                     "security_settings_changed"),
}


def _only_totp(services, orgs) -> None:  # noqa: ANN001
    """acme allows only the authenticator app, so the forms above change nothing else."""
    with services.database.session() as db:
        db.get(Organisation, orgs["acme"].id).allowed_methods = ["totp"]


def _without_audit(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "audit"}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_stale_admin_session_must_confirm_first_and_nothing_is_done(browser, orgs, targets, services, mailbox,
                                                                     frozen_clock, action):
    slug, path, data, event = ACTIONS[action]
    _only_totp(services, orgs)
    org = orgs[slug]
    sign_in(browser, org.admin, services=services, frozen=frozen_clock)
    frozen_clock.advance(**STALE)
    token = csrf_token(browser)
    before = snapshot(services, org.id)

    response = post(browser, path.format(**targets), data, token)

    assert response.status_code == 302 and path_of(response.headers["Location"]) == "/admin/confirm"
    assert _without_audit(snapshot(services, org.id)) == _without_audit(before)       # nothing done
    assert audit_events(services, org.id, event) == []
    refused = audit_events(services, org.id, "admin_fresh_proof_required")
    assert len(refused) == 1 and refused[0].outcome == "failure" and refused[0].actor == f"user:{org.admin}"
    page = browser.open(response.headers["Location"])
    assert "confirm it&#39;s you first" in page.text and "Confirm it's you</button>" in page.text

    # confirming (the flow asks the authenticator app) comes back to the page; then the action is done
    back = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    asked = browser.submit(page, "next", {})
    frozen_clock.advance(seconds=31)
    returned = browser.submit(asked, "code", {"code": code_for(totp_secret(services, org.admin))})
    assert path_of(returned.url) == back and returned.status == 200
    done = post(browser, path.format(**targets), data, csrf_token(browser))
    assert done.status_code == 302 and path_of(done.headers["Location"]) != "/admin/confirm"
    assert len(audit_events(services, org.id, event)) == 1


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_fresh_admin_session_does_it_at_once_and_it_is_audited(browser, orgs, targets, services, mailbox,
                                                                frozen_clock, action):
    slug, path, data, event = ACTIONS[action]
    _only_totp(services, orgs)
    org = orgs[slug]
    sign_in(browser, org.admin, services=services, frozen=frozen_clock)
    frozen_clock.advance(minutes=5)
    before = snapshot(services, org.id)

    response = post(browser, path.format(**targets), data, csrf_token(browser))

    assert response.status_code == 302 and path_of(response.headers["Location"]) != "/admin/confirm"
    assert snapshot(services, org.id) != before
    assert len(audit_events(services, org.id, event)) == 1
    assert audit_events(services, org.id, "admin_fresh_proof_required") == []


def test_strengthening_the_settings_needs_no_fresh_proof(browser, orgs, services, frozen_clock):
    globex = orgs["globex"]
    sign_in(browser, globex.admin, services=services, frozen=frozen_clock)
    frozen_clock.advance(**STALE)
    response = post(browser, "/admin/settings/security", {"require_2fa": "yes", "grace_days": "14",
                                                          "allowed_methods": "totp"}, csrf_token(browser))
    assert response.status_code == 302 and path_of(response.headers["Location"]) == "/admin/settings/security"
    with services.database.session() as db:
        assert db.get(Organisation, globex.id).require_2fa is True


def test_a_stale_session_adds_no_single_sign_on_provider(browser, orgs, services, frozen_clock):
    acme = orgs["acme"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    frozen_clock.advance(**STALE)
    token = csrf_token(browser, "/admin/settings/sso/new")
    response = post(browser, "/admin/settings/sso/new", {
        "name": "acme-okta", "display_name": "Acme (Okta)", "issuer": "https://login.example.com",
        "client_id": "c", "client_secret": "s", "token_endpoint_auth_method": "client_secret_basic",
        "scopes": "openid email", "domains": "acme.example.com", "second_factor": "upstream",
        "claim_email": "email", "enabled": "yes"}, token)
    assert response.status_code == 302 and path_of(response.headers["Location"]) == "/admin/confirm"
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(UpstreamProvider.id))) == 0


def test_confirm_never_sends_the_administrator_off_site(browser, orgs, services, frozen_clock):
    sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock)
    frozen_clock.advance(**STALE)
    page = browser.open("/admin/confirm?next=//evil.example.com/admin/")
    assert 'name="next" value="/admin/"' in page.text


# --------------------------------------------------------------------------- issue 13

def test_an_administrator_without_a_second_factor_is_sent_to_set_one_up(browser, orgs, targets, services,
                                                                       frozen_clock):
    globex = orgs["globex"]
    with services.database.session() as db:
        db.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == globex.admin_id))
    sign_in(browser, globex.admin, services=services, frozen=frozen_clock, target="/account/security")
    for path in ("/admin/", "/admin/users", "/admin/settings/security", "/admin/settings/sso"):
        page = browser.open(path)
        assert path_of(page.url) == "/account/security/enable", path
        assert "administrators must use a second factor" in page.text
    token = csrf_token(browser, "/account/security")
    before = snapshot(services, globex.id)
    response = post(browser, f"/admin/users/{targets['locked']}/unlock", {"reason": "x"}, token)
    assert path_of(response.headers["Location"]) == "/account/security/enable"
    assert snapshot(services, globex.id) == before


def test_a_session_that_did_not_use_the_second_factor_must_confirm_with_it(browser, orgs, targets, services,
                                                                          frozen_clock):
    globex = orgs["globex"]
    sign_in(browser, globex.admin, services=services, frozen=frozen_clock)
    with services.database.session() as db:       # e.g. a remembered browser skipped it, or set up afterwards
        db.execute(sa.update(BrowserSession).values(amr=["pwd"]))
    for path in ("/admin/users", "/admin/settings/sso"):
        page = browser.open(path)
        assert page.status == 403 and "this browser session has not used it" in page.text, path
    token = csrf_token(browser, "/account/security")
    before = snapshot(services, globex.id)
    assert post(browser, f"/admin/users/{targets['locked']}/unlock", {"reason": "x"}, token).status_code == 403
    assert snapshot(services, globex.id) == before

    asked = browser.submit(browser.open("/admin/users"), "next", {})
    frozen_clock.advance(seconds=31)
    back = browser.submit(asked, "code", {"code": code_for(totp_secret(services, globex.admin))})
    assert path_of(back.url) == "/admin/users" and back.status == 200


def test_the_cli_is_an_operator_tool_and_needs_no_second_factor(orgs, services, idp_cli):
    with services.database.session() as db:
        db.execute(sa.delete(SecondFactor))
    result = idp_cli("settings", "show", "--org", "globex")
    assert result.exit_code == 0, result.output


def test_a_remembered_browser_does_not_skip_the_confirmation(browser, orgs, services, frozen_clock):
    """Signed in with the password only because the browser is remembered: "Confirm it's you" still asks
    for the second factor (never a loop back to the same page)."""
    globex = orgs["globex"]
    with services.database.session() as db:
        db.get(Organisation, globex.id).remember_browser_days = 30
    page = browser.open("/account/security")
    page = browser.sign_in(page, globex.admin, PASSWORD)
    frozen_clock.advance(seconds=31)
    page = browser.submit(page, "code", {"code": code_for(totp_secret(services, globex.admin)),
                                         "remember_browser": "yes"})
    with services.database.session() as db:       # signed out; the remember cookie stays
        db.execute(sa.update(BrowserSession).values(ended_at=frozen_clock.current))
    page = browser.sign_in(browser.open("/account/security"), globex.admin, PASSWORD)
    assert 'name="code"' not in page.text                                   # the second factor was skipped
    refused = browser.open("/admin/users")
    assert refused.status == 403
    asked = browser.submit(refused, "next", {})
    assert 'name="code"' in asked.text, asked.text[:2000]
    frozen_clock.advance(seconds=31)
    back = browser.submit(asked, "code", {"code": code_for(totp_secret(services, globex.admin))})
    assert path_of(back.url) == "/admin/users" and back.status == 200
