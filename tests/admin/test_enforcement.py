"""Organisation-wide 2FA enforcement at sign-in: the grace notice and its boundaries (frozen clock), the
forced enrolment that blocks the authorization (and every IdP page) until a second factor is set up,
exempt users and groups, and the zero-grace warning with the number of users it would block."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp import clock
from idp.models import AuthorizationCode, BrowserSession, Organisation, SecondFactor, User
from tests.admin.helpers import audit_events, enrol_totp, path_of, sign_in, submit_settings
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair

DAY = timedelta(days=1)


@pytest.fixture
def start(frozen_clock, orgs, services):  # noqa: ANN001, ANN201
    """acme: 2FA required since T0 with 7 days of grace; its user was created before T0."""
    t0 = frozen_clock.current
    with services.database.session() as db:
        db.get(Organisation, orgs["acme"].id).enforced_since = t0
        for user in db.scalars(sa.select(User)):
            user.created_at = t0 - 30 * DAY
    return t0


@pytest.fixture
def rp(factory, orgs):  # noqa: ANN001, ANN201
    return factory.client(org="acme")


def authorize(browser, rp):  # noqa: ANN001, ANN201
    _, challenge = pkce_pair()
    return browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))


def codes_issued(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(AuthorizationCode.id)))


def sessions_of(services, email: str) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(BrowserSession.id)).join(User).where(User.email == email))


# --- the grace period, day by day ------------------------------------------------------------------------

@pytest.mark.parametrize(("offset", "left"), [(1 * DAY, 6), (6 * DAY, 1), (7 * DAY - timedelta(minutes=1), 1)])
def test_inside_the_grace_period_a_notice_then_the_application(browser, rp, orgs, start, frozen_clock, services,
                                                               offset, left):
    frozen_clock.set(start + offset)
    page = browser.sign_in(authorize(browser, rp), orgs["acme"].user, PASSWORD)
    assert page.status == 200
    words = f"You have {left} day{'' if left == 1 else 's'} left to set up two-factor authentication"
    assert words in page.text and "Set it up now" in page.text and "Continue" in page.text
    assert codes_issued(services) == 0
    done = browser.submit(page, "step", {}, button=("action", "continue"))
    assert done.location and done.location.startswith(rp.redirect_uri) and "code=" in done.location
    with services.database.session() as db:
        code = db.scalar(sa.select(AuthorizationCode))
        assert code.amr == ["pwd"]          # the notice proves nothing


def test_set_it_up_now_on_an_account_sign_in_opens_the_set_up(browser, orgs, start, frozen_clock, services):
    frozen_clock.set(start + 2 * DAY)
    page = browser.sign_in(browser.open("/account/security"), orgs["acme"].user, PASSWORD)
    assert "You have 5 days left" in page.text and 'value="setup"' in page.text
    done = browser.submit(page, "step", {}, button=("action", "setup"))
    assert path_of(done.url) == "/login" and 'name="method"' in done.text     # the set-up, in this sign-in


def test_set_it_up_now_on_an_application_sign_in_sets_up_in_the_same_sign_in(browser, rp, orgs, start, frozen_clock,
                                                                            services):
    frozen_clock.set(start + 2 * DAY)
    page = browser.sign_in(authorize(browser, rp), orgs["acme"].user, PASSWORD)
    done = browser.submit(page, "step", {}, button=("action", "setup"))
    assert path_of(done.url) == "/login" and 'name="method"' in done.text
    assert codes_issued(services) == 0


@pytest.mark.parametrize("offset", [7 * DAY, 8 * DAY, 30 * DAY])
def test_from_the_end_of_the_grace_period_enrolment_comes_first(browser, rp, orgs, start, frozen_clock, services,
                                                                offset):
    frozen_clock.set(start + offset)
    page = browser.sign_in(authorize(browser, rp), orgs["acme"].user, PASSWORD)
    assert page.status == 200 and "Set up two-factor authentication" in page.text
    assert "days left" not in page.text and 'name="method"' in page.text
    assert codes_issued(services) == 0 and sessions_of(services, orgs["acme"].user) == 0


def test_an_extended_grace_period_counts_per_user(browser, rp, orgs, start, frozen_clock, services):
    with services.database.session() as db:
        db.get(User, orgs["acme"].user_id).grace_extended_until = start + 10 * DAY
    frozen_clock.set(start + 8 * DAY)
    page = browser.sign_in(authorize(browser, rp), orgs["acme"].user, PASSWORD)
    assert "You have 2 days left" in page.text


def test_a_user_created_after_enforcement_gets_their_own_grace(browser, rp, factory, orgs, start, frozen_clock):
    frozen_clock.set(start + 20 * DAY)
    factory.user("late@acme.example.com", org="acme")
    frozen_clock.advance(days=3)
    page = browser.sign_in(authorize(browser, rp), "late@acme.example.com", PASSWORD)
    assert "You have 4 days left" in page.text


# --- forced enrolment blocks everything until done -------------------------------------------------------

def test_forced_enrolment_blocks_the_authorization_until_done(browser, rp, orgs, start, frozen_clock, services):
    frozen_clock.set(start + 8 * DAY)
    enrol = browser.sign_in(authorize(browser, rp), orgs["acme"].user, PASSWORD)
    assert 'name="method"' in enrol.text
    # reloading, or asking again, never skips it
    assert 'name="method"' in browser.open("/login").text
    assert codes_issued(services) == 0 and sessions_of(services, orgs["acme"].user) == 0
    done, _ = enrol_totp(browser, browser.open("/login"))
    assert done.location and done.location.startswith(rp.redirect_uri), done.text[:2000]
    with services.database.session() as db:
        code = db.scalar(sa.select(AuthorizationCode))
        assert "otp" in code.amr and "mfa" in code.amr
    assert audit_events(services, orgs["acme"].id, "second_factor_enrolled")


@pytest.mark.parametrize("target", ["/admin/", "/admin/users", "/account/security"])
def test_no_idp_page_opens_while_enrolment_is_pending(browser, rp, orgs, start, frozen_clock, services, target):
    frozen_clock.set(start + 8 * DAY)
    with services.database.session() as db:    # an administrator without a second factor, past grace
        db.execute(sa.delete(SecondFactor))
    enrol = browser.sign_in(authorize(browser, rp), orgs["acme"].admin, PASSWORD)
    assert 'name="method"' in enrol.text
    page = browser.open(target)
    assert "Administration" not in page.text and "Profile" not in page.text.split("<main", 1)[1]
    assert 'name="password"' in page.text          # sent to sign in again: there is no session
    assert sessions_of(services, orgs["acme"].admin) == 0
    # signing in for that page runs the same flow: enrolment again, never the page
    enrol_again = browser.sign_in(page, orgs["acme"].admin, PASSWORD)
    assert 'name="method"' in enrol_again.text and sessions_of(services, orgs["acme"].admin) == 0


def test_an_older_session_of_someone_who_now_owes_a_second_factor_cannot_open_administration(
        browser, orgs, start, frozen_clock, services):
    page = sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock)
    assert page.status == 200 and "Administration" in page.text
    with services.database.session() as db:     # meanwhile: factors gone, 2FA required with no grace
        db.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == orgs["globex"].admin_id))
        org = db.get(Organisation, orgs["globex"].id)
        org.require_2fa, org.grace_days, org.enforced_since = True, 0, clock.now()
    refused = browser.open("/admin/users")       # sent to set one up first (administrators must have one)
    assert path_of(refused.url) == "/account/security/enable" and "Set up two-factor authentication first" in refused.text


# --- exempt users and groups ------------------------------------------------------------------------------

def test_exempt_user_and_exempt_group_sign_in_without_a_second_factor(browser, admin_browser, rp, factory, orgs,
                                                                      start, frozen_clock, services):
    factory.user("exempt@acme.example.com", org="acme")
    factory.user("ops@acme.example.com", org="acme", groups=("ops",))
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == "exempt@acme.example.com")).exempt_from_2fa = True
        db.get(Organisation, orgs["acme"].id).exempt_groups = ["ops"]
        for user in db.scalars(sa.select(User)):
            user.created_at = start - 30 * DAY
    frozen_clock.set(start + 8 * DAY)
    for email in ("exempt@acme.example.com", "ops@acme.example.com"):
        b = admin_browser()
        done = b.sign_in(authorize(b, rp), email, PASSWORD)
        assert done.location and done.location.startswith(rp.redirect_uri), (email, done.text[:1500])
    blocked = browser.sign_in(authorize(browser, rp), orgs["acme"].user, PASSWORD)
    assert 'name="method"' in blocked.text
    # the admin's explanation says why ("2FA prompt does not appear": exempt)
    admin = admin_browser()
    sign_in(admin, orgs["acme"].admin, services=services, frozen=frozen_clock)
    with services.database.session() as db:
        ops = db.scalar(sa.select(User).where(User.email == "ops@acme.example.com"))
        exempt = db.scalar(sa.select(User).where(User.email == "exempt@acme.example.com"))
    assert "is in exempt group ops" in admin.open(f"/admin/users/{ops.id}").text
    assert "is on the exempt list" in admin.open(f"/admin/users/{exempt.id}").text
    assert "the grace period is over" in admin.open(f"/admin/users/{orgs['acme'].user_id}").text.lower()


# --- the zero-grace warning ------------------------------------------------------------------------------

@pytest.fixture
def globex_people(factory, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    """globex (2FA off): who would be blocked by enforcing now with no grace period, and who would not."""
    from tests.admin.helpers import add_totp

    for email, groups in (("a@globex.example.com", ()), ("b@globex.example.com", ()),
                          ("enrolled@globex.example.com", ()), ("exempt@globex.example.com", ()),
                          ("contractor@globex.example.com", ("contractors",)), ("gone@globex.example.com", ()),
                          ("extended@globex.example.com", ())):
        factory.user(email, org="globex", groups=groups)
    with services.database.session() as db:
        by = {u.email: u for u in db.scalars(sa.select(User))}
        add_totp(db, services, by["enrolled@globex.example.com"])
        by["exempt@globex.example.com"].exempt_from_2fa = True
        by["gone@globex.example.com"].is_active = False
        by["extended@globex.example.com"].grace_extended_until = clock.now() + 3 * DAY
    # blocked now: user@, a@, b@ (the admin has an authenticator app)
    return ["a@globex.example.com", "b@globex.example.com", orgs["globex"].user]


def test_enforcing_with_no_grace_warns_with_the_number_blocked_then_saves_when_confirmed(
        browser, orgs, globex_people, services, frozen_clock):
    sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock)
    page = browser.open("/admin/settings/security")
    assert "Require Two-Factor Authentication" in page.text and "Grace period" in page.text and ">Save<" in page.text
    before = len(audit_events(services, orgs["globex"].id, "security_settings_changed"))
    warned = submit_settings(browser, page, require_2fa="yes", grace_days="0", exempt_groups="contractors",
                             exempt_users="exempt@globex.example.com")
    assert warned.status == 200
    assert ("Enforcing 2FA immediately (with no grace period) will block all users who have not yet set up a second "
            "factor. Communicate the change to your users before enabling enforcement, or set a grace period.") \
        in warned.text
    assert '<strong id="blocked-count">3 users</strong>' in warned.text
    for email in globex_people:
        assert email in warned.text
    with services.database.session() as db:                         # nothing saved yet
        assert db.get(Organisation, orgs["globex"].id).require_2fa is False
    assert len(audit_events(services, orgs["globex"].id, "security_settings_changed")) == before
    saved = browser.submit(warned, "confirm_zero_grace", {})
    assert saved.status == 200 and "Security settings saved." in saved.text
    with services.database.session() as db:
        org = db.get(Organisation, orgs["globex"].id)
        assert org.require_2fa is True and org.grace_days == 0 and org.enforced_since == clock.now()
        assert org.exempt_groups == ["contractors"]
    entry = audit_events(services, orgs["globex"].id, "security_settings_changed")[-1]
    assert entry.actor == f"user:{orgs['globex'].admin}"
    assert entry.details["old"]["require_2fa"] is False and entry.details["new"]["require_2fa"] is True
    assert entry.details["new"]["grace_days"] == 0 and entry.details["blocked_when_saved"] == 3


def test_a_grace_period_needs_no_confirmation_and_turning_off_clears_enforced_since(
        browser, orgs, globex_people, services, frozen_clock):
    sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock)
    page = browser.open("/admin/settings/security")
    saved = submit_settings(browser, page, require_2fa="yes", grace_days="14")
    assert "Security settings saved." in saved.text and "blocked-count" not in saved.text
    with services.database.session() as db:
        org = db.get(Organisation, orgs["globex"].id)
        assert (org.require_2fa, org.grace_days, org.enforced_since) == (True, 14, clock.now())
    # shortening the grace period to 0 later is the same decision: confirm first
    warned = submit_settings(browser, browser.open("/admin/settings/security"), grace_days="0")
    assert "blocked-count" in warned.text
    off = submit_settings(browser, browser.open("/admin/settings/security"), require_2fa="")
    assert "Security settings saved." in off.text
    with services.database.session() as db:
        org = db.get(Organisation, orgs["globex"].id)
        assert org.require_2fa is False and org.enforced_since is None


def test_bad_settings_are_refused_with_a_message_and_nothing_changes(browser, orgs, services, frozen_clock):
    sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock)
    page = browser.open("/admin/settings/security")
    for values, words in (({"grace_days": "-1"}, "Grace period"), ({"grace_days": "soon"}, "not a whole number"),
                          ({"exempt_users": "nobody@globex.example.com"}, "no user nobody@globex.example.com"),
                          ({"exempt_users": orgs["acme"].user}, f"no user {orgs['acme'].user}")):
        refused = submit_settings(browser, page, require_2fa="yes", **values)
        assert refused.status == 400 and words in refused.text, refused.text[:2000]
    with services.database.session() as db:
        assert db.get(Organisation, orgs["globex"].id).require_2fa is False
        assert db.get(User, orgs["acme"].user_id).exempt_from_2fa is False
    assert not audit_events(services, orgs["globex"].id, "security_settings_changed")


def test_allowed_methods_are_saved_and_offered_at_enrolment(browser, admin_browser, rp, orgs, start, frozen_clock,
                                                           services, mailbox):
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    saved = submit_settings(browser, browser.open("/admin/settings/security"), allowed_methods=["totp"])
    assert "Security settings saved." in saved.text
    with services.database.session() as db:
        assert db.get(Organisation, orgs["acme"].id).allowed_methods == ["totp"]
    frozen_clock.set(start + 8 * DAY)
    user = admin_browser()
    page = user.sign_in(authorize(user, rp), orgs["acme"].user, PASSWORD)
    if 'name="code"' in page.text:       # email is on: the enrolment first checks the account's address
        code = mailbox.to(orgs["acme"].user)[-1].body
        import re
        page = user.submit(page, "code", {"code": re.search(r"\b(\d{6})\b", code).group(1)})
    assert 'value="totp"' in page.text and 'value="email"' not in page.text and 'value="sms"' not in page.text
    assert path_of(page.url) == "/login"
