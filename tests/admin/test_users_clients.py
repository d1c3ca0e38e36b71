"""Administration > Users (search, pages, detail, unlock, disable/enable, invitations, grace extension and
the rollout panel) and Administration > Clients (register, edit, rotate the secret with a grace window,
disable) — each action audited with its reason."""
from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.models import BrowserSession, Client, Invitation, User
from tests.admin.helpers import audit_events, csrf_token, main, path_of, post, sign_in
from tests.support.factory import PASSWORD


@pytest.fixture
def acme_admin(browser, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    return browser


# --- users -------------------------------------------------------------------------------------------------

def test_list_pages_and_search_by_name_or_email(acme_admin, factory, orgs):
    for i in range(30):
        factory.user(f"worker{i:02d}@acme.example.com", org="acme", name=f"Worker Number {i:02d}")
    factory.user("zed@acme.example.com", org="acme", name="Zoë O'Brien")
    first = main(acme_admin.open("/admin/users"))
    assert "33 users" in first and "Page 1 of 2" in first and first.count("/admin/users/") >= 25
    second = main(acme_admin.open("/admin/users?page=2"))
    assert "zed@acme.example.com" in second and "Page 2 of 2" in second
    assert "zed@acme.example.com" in main(acme_admin.open("/admin/users?q=o%27brien"))       # by name
    assert "1 user matching" in main(acme_admin.open("/admin/users?q=WORKER07"))               # by email, any case
    assert "0 users matching" in main(acme_admin.open("/admin/users?q=%25"))                   # % is not a wildcard
    assert acme_admin.open("/admin/users?page=99").status == 200


def test_detail_shows_factors_without_secrets_and_why_2fa_is_asked(acme_admin, orgs, services):
    from idp.factors import enrolled
    from tests.admin.helpers import add_totp
    with services.database.session() as db:
        user = db.get(User, orgs["acme"].user_id)
        secret = add_totp(db, services, user)
        factor = enrolled.new_pending(db, user, "email", "someone.else@example.org")
        enrolled.activate(db, user, factor)
        user.last_login_at = user.created_at
    page = main(acme_admin.open(f"/admin/users/{orgs['acme'].user_id}"))
    assert "Authenticator App" in page and "Email" in page and "s\u2022\u2022\u2022@example.org" in page
    assert secret not in page and secret[:8] not in page.replace(" ", "") and "someone.else" not in page
    assert '<strong id="recovery-left">10</strong>' in page and "Why is (or isn't) this user asked for 2FA?" in page
    assert "second factor set up, so it is asked" in page and "Local login (no SSO)" in page
    with services.database.session() as db:     # a link to an upstream provider that was removed since
        from idp.models import UpstreamIdentity
        db.add(UpstreamIdentity(provider="old-entra", subject="s-1", issuer="https://login.example.org",
                                user_id=orgs["acme"].user_id, created_at=user.created_at))
    page = main(acme_admin.open(f"/admin/users/{orgs['acme'].user_id}"))
    assert "Linked to the identity provider &#39;old-entra&#39;, which is not configured any more." in page


def test_unlock_is_audited_with_its_reason(acme_admin, orgs, services, frozen_clock):
    with services.database.session() as db:
        user = db.get(User, orgs["acme"].user_id)
        user.otp_locked_until = frozen_clock.current + timedelta(minutes=30)
        user.password_failures = 4
    page = acme_admin.open(f"/admin/users/{orgs['acme'].user_id}")
    assert "<strong>Locked</strong>" in page.text
    done = acme_admin.submit(page, "reason", {"reason": "called the help desk"})
    assert "is unlocked" in done.text and "Not locked" in done.text
    with services.database.session() as db:
        user = db.get(User, orgs["acme"].user_id)
        assert user.otp_locked_until is None and user.password_failures == 0
    entry = audit_events(services, orgs["acme"].id, "user_unlocked")[-1]
    assert entry.details["reason"] == "called the help desk" and entry.details["was_locked_until"]


def test_disable_signs_the_user_out_and_enable_lets_them_back(acme_admin, admin_browser, orgs, services,
                                                              frozen_clock):
    user = admin_browser()
    sign_in(user, orgs["acme"].user, target="/account/security", services=services, frozen=frozen_clock)
    assert user.open("/account/security").status == 200
    token = csrf_token(acme_admin)
    no_reason = post(acme_admin, f"/admin/users/{orgs['acme'].user_id}/disable", {"reason": ""}, token)
    assert no_reason.status_code == 400
    done = post(acme_admin, f"/admin/users/{orgs['acme'].user_id}/disable", {"reason": "left"}, token)
    assert done.status_code == 302
    assert 'name="password"' in user.open("/account/security").text                      # signed out
    again = user.sign_in(user.open("/account/security"), orgs["acme"].user, PASSWORD)
    assert "not correct" in again.text                                                   # cannot sign in
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(BrowserSession.id)).where(
            BrowserSession.user_id == orgs["acme"].user_id, BrowserSession.ended_at.is_(None))) == 0
    assert post(acme_admin, f"/admin/users/{orgs['acme'].user_id}/enable", {}, token).status_code == 302
    events = [(e.event, e.details.get("reason")) for e in audit_events(services, orgs["acme"].id)
              if e.event in ("user_disabled", "user_enabled")]
    assert events == [("user_disabled", "left"), ("user_enabled", "")]
    # an admin cannot disable themselves
    assert post(acme_admin, f"/admin/users/{orgs['acme'].admin_id}/disable", {"reason": "x"}, token).status_code == 400


def test_create_user_sends_a_single_use_invitation_to_choose_a_password(acme_admin, admin_browser, orgs, services,
                                                                        mailbox, frozen_clock):
    page = acme_admin.open("/admin/users/new")
    assert 'type="password"' not in page.text                   # the admin never picks a password
    done = acme_admin.submit(page, "email", {"email": "New.Person@acme.example.com", "name": "New Person"})
    assert "An invitation to choose a password was emailed" in done.text and "Invited" in done.text
    mail = mailbox.to("new.person@acme.example.com")[-1]
    link = re.search(r"http://localhost(/invitation/\S+)", mail.body).group(1)
    with services.database.session() as db:
        invitation = db.scalar(sa.select(Invitation))
        assert link.rsplit("/", 1)[1] not in (invitation.token_digest,)    # only the digest is stored
        assert invitation.user.password_hash is None and invitation.user.organisation_id == orgs["acme"].id
    person = admin_browser()
    form = person.open(link)
    assert form.status == 200 and form.text.count('autocomplete="new-password"') == 2
    short = person.submit(form, "password", {"password": "short", "confirm": "short"})
    assert short.status == 400 and "at least" in short.text
    common = person.submit(form, "password", {"password": "password1234567", "confirm": "password1234567"})
    assert common.status == 400 and "common" in common.text.lower()    # NIST rules: blocklist too
    mismatch = person.submit(form, "password", {"password": "a long passphrase 1", "confirm": "another one 2"})
    assert mismatch.status == 400 and "not the same" in mismatch.text
    ok = person.submit(form, "password", {"password": "a long passphrase 1", "confirm": "a long passphrase 1"})
    assert ok.status == 200 and "Your password is set" in ok.text
    assert person.open(link).status == 404                                  # single use
    replay = post(person, link, {"password": "x" * 20, "confirm": "x" * 20}, csrf_token(person, "/login"))
    assert replay.status_code == 404
    signed_in = person.sign_in(person.open("/account/security"), "new.person@acme.example.com",
                               "a long passphrase 1")
    assert signed_in.status == 200 and 'name="password"' not in signed_in.text
    events = [e.event for e in audit_events(services, orgs["acme"].id)]
    assert "user_invited" in events and "invitation_accepted" in events


def test_invitations_expire_and_a_new_one_replaces_the_old(acme_admin, admin_browser, orgs, services, mailbox,
                                                           frozen_clock):
    acme_admin.submit(acme_admin.open("/admin/users/new"), "email", {"email": "late@acme.example.com"})
    first = re.search(r"http://localhost(/invitation/\S+)", mailbox.to("late@acme.example.com")[-1].body).group(1)
    with services.database.session() as db:
        user_id = db.scalar(sa.select(User.id).where(User.email == "late@acme.example.com"))
    assert "Send a new invitation" in acme_admin.open(f"/admin/users/{user_id}").text
    post(acme_admin, f"/admin/users/{user_id}/invite", {}, csrf_token(acme_admin))
    second = re.search(r"http://localhost(/invitation/\S+)", mailbox.to("late@acme.example.com")[-1].body).group(1)
    person = admin_browser()
    assert person.open(first).status == 404 and person.open(second).status == 200
    frozen_clock.advance(days=8)
    assert person.open(second).status == 404


def test_no_account_is_created_when_the_invitation_cannot_be_sent(acme_admin, orgs, services):
    # the test config has email switched off
    done = acme_admin.submit(acme_admin.open("/admin/users/new"), "email", {"email": "ghost@acme.example.com"})
    assert done.status == 400 and "Email is not enabled" in done.text
    with services.database.session() as db:
        assert db.scalar(sa.select(User).where(User.email == "ghost@acme.example.com")) is None
    foreign = acme_admin.submit(acme_admin.open("/admin/users/new"), "email", {"email": orgs["globex"].user})
    assert foreign.status == 400 and "belong to another organisation" in foreign.text


def test_an_address_already_in_use_is_not_invited_without_saying_where(acme_admin, factory, orgs, mailbox):
    # the same answer as for a new address; its owner is told (tests/admin/test_identifiers_invitations.py)
    factory.org("initech")
    factory.user("someone@elsewhere.example.org", org="initech")
    page = acme_admin.open("/admin/users/new")
    answer = acme_admin.submit(page, "email", {"email": "someone@elsewhere.example.org"})
    assert answer.status == 200 and "An invitation to choose a password was emailed" in answer.text
    assert "initech" not in answer.text.lower() and "Invited" not in answer.text
    assert [m.subject for m in mailbox.outbox] == ["Fentu FSM: someone tried to invite your address"]
    invalid = acme_admin.submit(page, "email", {"email": "not an address"})
    assert invalid.status == 400 and "not a valid email address" in invalid.text


def test_extend_one_users_grace_period_and_the_rollout_panel(acme_admin, factory, orgs, services, frozen_clock):
    from tests.admin.helpers import add_totp
    factory.user("exempt@acme.example.com", org="acme")
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == "exempt@acme.example.com")).exempt_from_2fa = True
        db.get(User, orgs["acme"].user_id).otp_locked_until = frozen_clock.current + timedelta(hours=1)
    settings = main(acme_admin.open("/admin/settings/security"))
    assert "<strong>1</strong> enrolled" in settings and "<strong>1</strong> not yet enrolled" in settings
    assert "<strong>1</strong> exempt" in settings and "<strong>1</strong> locked" in settings
    pending = acme_admin.open("/admin/settings/security/rollout?list=not_enrolled")
    assert orgs["acme"].user in main(pending) and "7 days left" in main(pending)
    refused = acme_admin.submit(pending, "days", {"days": "5", "reason": ""})
    assert refused.status == 400 and "Reason" in refused.text
    done = acme_admin.submit(pending, "days", {"days": "5", "reason": "on holiday"})
    assert path_of(done.url) == "/admin/settings/security/rollout" and "12 days left" in main(done)
    entry = audit_events(services, orgs["acme"].id, "grace_period_extended")[-1]
    assert entry.details["reason"] == "on holiday" and entry.details["days"] == 5
    assert entry.target == orgs["acme"].user
    with services.database.session() as db:
        from idp.models import Organisation
        since = db.get(Organisation, orgs["acme"].id).enforced_since
        assert db.get(User, orgs["acme"].user_id).grace_extended_until == since + timedelta(days=7 + 5)
        add_totp(db, services, db.get(User, orgs["acme"].user_id))
    assert "<strong>2</strong> enrolled" in main(acme_admin.open("/admin/settings/security"))
    for name in ("enrolled", "exempt", "locked"):
        assert acme_admin.open(f"/admin/settings/security/rollout?list={name}").status == 200
    assert acme_admin.open("/admin/settings/security/rollout?list=everyone").status == 404


# --- clients -----------------------------------------------------------------------------------------------

def test_register_a_client_and_see_its_secret_once(acme_admin, orgs, services):
    page = acme_admin.open("/admin/clients/new")
    bad = acme_admin.submit(page, "redirect_uris", {"name": "Wiki", "redirect_uris": "http://wiki.example.com/cb"})
    assert bad.status == 400 and "plain http" in bad.text
    shown = acme_admin.submit(page, "redirect_uris", {"name": "Wiki", "redirect_uris": "https://wiki.example.com/cb",
                                                      "logout_uris": "https://wiki.example.com/"})
    secret = re.search(r'id="client-secret">([^<]+)<', shown.text).group(1)
    client_id = re.search(r'id="client-id">([^<]+)<', shown.text).group(1)
    with services.database.session() as db:
        client = db.scalar(sa.select(Client).where(Client.client_id == client_id))
        assert client.organisation_id == orgs["acme"].id and client.check_client_secret(secret)
        assert secret not in (client.secret_digest or "")
        pk = client.id
    assert secret not in acme_admin.open(f"/admin/clients/{pk}").text          # never shown again
    assert "Wiki" in main(acme_admin.open("/admin/clients"))
    entry = audit_events(services, orgs["acme"].id, "client_created")[-1]
    assert entry.target == client_id and "secret" not in str(entry.details).lower().replace("secret_", "")


def _client(services, client_id: str) -> Client:  # noqa: ANN001
    with services.database.session() as db:
        row = db.scalar(sa.select(Client).where(Client.client_id == client_id))
        db.expunge_all()
        return row


def test_edit_addresses_rotate_with_a_grace_window_and_disable(acme_admin, factory, orgs, services, client,
                                                               frozen_clock):
    rp = factory.client(org="acme", redirect_uri="https://app.example.com/cb", logout_uris=())
    pk = _client(services, rp.client_id).id
    page = acme_admin.open(f"/admin/clients/{pk}")
    saved = acme_admin.submit(page, "redirect_uris", {"redirect_uris": "https://app.example.com/cb\n"
                                                                       "https://app.example.com/cb2"})
    assert "Saved." in saved.text
    assert _client(services, rp.client_id).redirect_uris == ["https://app.example.com/cb",
                                                             "https://app.example.com/cb2"]
    assert audit_events(services, orgs["acme"].id, "client_updated")[-1].details["new"]["redirect_uris"][1] \
        == "https://app.example.com/cb2"
    rotated = acme_admin.submit(acme_admin.open(f"/admin/clients/{pk}"), "grace_hours", {"grace_hours": "1"})
    new_secret = re.search(r'id="client-secret">([^<]+)<', rotated.text).group(1)

    def token_endpoint_accepts(secret: str) -> bool:
        basic = base64.b64encode(f"{rp.client_id}:{secret}".encode()).decode()
        response = client.post("/token", data={"grant_type": "authorization_code", "code": "nope",
                                               "redirect_uri": rp.redirect_uri},
                               headers={"Authorization": f"Basic {basic}"})
        return response.get_json().get("error") != "invalid_client"
    assert token_endpoint_accepts(new_secret) and token_endpoint_accepts(rp.secret)
    for _ in range(3):                     # the administrator keeps working (idle sessions end after 30 minutes)
        frozen_clock.advance(minutes=21)
        acme_admin.open(f"/admin/clients/{pk}")
    assert token_endpoint_accepts(new_secret) and not token_endpoint_accepts(rp.secret)
    now_only = acme_admin.submit(acme_admin.open(f"/admin/clients/{pk}"), "grace_hours", {"grace_hours": "0"})
    newest = re.search(r'id="client-secret">([^<]+)<', now_only.text).group(1)
    assert token_endpoint_accepts(newest) and not token_endpoint_accepts(new_secret)
    rotations = audit_events(services, orgs["acme"].id, "client_secret_rotated")
    hours = [e.details["old_secret_valid_hours"] for e in rotations]
    assert hours == [1, 0]
    disabled = post(acme_admin, f"/admin/clients/{pk}/disable", {}, csrf_token(acme_admin))
    assert disabled.status_code == 302 and not _client(services, rp.client_id).is_active
    assert not token_endpoint_accepts(newest)
    assert [e.event for e in audit_events(services, orgs["acme"].id) if e.event.startswith("client_")][-1] == \
        "client_disabled"
    bad = post(acme_admin, f"/admin/clients/{pk}/rotate", {"grace_hours": "forever"}, csrf_token(acme_admin))
    assert bad.status_code == 400
