"""What provisioning does to people: deactivation signs them out everywhere and stops their refresh
tokens, they cannot sign in; groups feed the 2FA exempt list; every change is in the audit log as done
by the token."""
from __future__ import annotations

import sqlalchemy as sa

from idp import audit
from idp.clock import now
from idp.enforcement import enforcement_status
from idp.flow.facts import Enforcement
from idp.models import AuditEvent, Organisation, User
from tests.support.factory import PASSWORD
from tests.support.oidc_client import Rp

from .conftest import GROUP

OFFLINE = "openid email offline_access"


def _id_of(scim, email: str) -> str:  # noqa: ANN001
    return scim.get("/Users", filter=f'userName eq "{email}"').json["Resources"][0]["id"]


def test_deactivation_ends_sessions_and_refresh_tokens_and_blocks_sign_in(scim, client, browser, factory, config):
    factory.user("alice@example.com", name="Alice")
    rp = Rp(client, browser, factory.client(refresh_tokens=True), config.issuer)
    first = rp.tokens(scope=OFFLINE)
    rotated = rp.refresh(first["refresh_token"])
    assert rotated.status == 200                                   # the refresh token works before
    tokens = rotated.json

    reply = scim.patch(f"/Users/{_id_of(scim, 'alice@example.com')}",
                       {"op": "Replace", "path": "active", "value": "False"})
    assert reply.status_code == 200 and reply.json["active"] is False

    refused = rp.refresh(tokens["refresh_token"])
    assert (refused.status, refused.error) == (400, "invalid_grant")
    assert rp.userinfo(tokens["access_token"]).status == 401
    # the browser is signed out: /authorize asks for the password again, which no longer works
    params, _ = rp.params()
    page = rp.open_authorize(params)
    assert page.location is None and 'name="password"' in page.text
    after = browser.sign_in(page, "alice@example.com", PASSWORD)
    assert not (after.location or "").startswith(rp.reg.redirect_uri)


def test_deleted_account_is_gone_and_its_tokens_with_it(scim, client, browser, factory, config, services):
    factory.user("alice@example.com", name="Alice")
    rp = Rp(client, browser, factory.client(refresh_tokens=True), config.issuer)
    tokens = rp.tokens(scope=OFFLINE)
    assert scim.delete(f"/Users/{_id_of(scim, 'alice@example.com')}").status_code == 204
    assert rp.refresh(tokens["refresh_token"]).status == 400
    assert rp.userinfo(tokens["access_token"]).status == 401
    with services.database.session() as db:
        assert db.scalar(sa.select(User).where(User.email == "alice@example.com")) is None
        kinds = [e.event for e in db.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
        assert kinds[-2:] == ["user_disabled", "user_deleted"]


def test_groups_drive_the_exempt_list(scim, services, factory):
    factory.user("kiosk@example.com")
    with services.database.session() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.slug == "default"))
        org.require_2fa, org.grace_days, org.enforced_since, org.exempt_groups = True, 0, now(), ["Kiosks"]
    kiosk = _id_of(scim, "kiosk@example.com")

    def state() -> Enforcement:
        with services.database.session() as db:
            return enforcement_status(db, db.scalar(sa.select(User).where(User.email == "kiosk@example.com")),
                                      now()).state

    assert state() is not Enforcement.EXEMPT
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Kiosks", "members": [{"value": kiosk}]})
    assert group.status_code == 201
    assert state() is Enforcement.EXEMPT
    scim.patch(f"/Groups/{group.json['id']}", {"op": "remove", "path": f'members[value eq "{kiosk}"]'})
    assert state() is not Enforcement.EXEMPT


def test_every_change_is_audited_as_the_token(scim, services):
    created = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                   "userName": "dave@example.com", "externalId": "x-1", "active": True})
    dave = created.json["id"]
    scim.patch(f"/Users/{dave}", {"op": "replace", "path": "displayName", "value": "Dave"})
    scim.patch(f"/Users/{dave}", {"op": "replace", "path": "active", "value": False})
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Ops", "members": [{"value": dave}]}).json["id"]
    scim.delete(f"/Groups/{group}")
    scim.delete(f"/Users/{dave}")
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.actor.like("scim:%")).order_by(AuditEvent.id)))
        assert {r.actor for r in rows} == {"scim:Entra ID"}
        assert [r.event for r in rows] == [
            "scim_user_created", "scim_user_updated", "user_disabled", "scim_user_updated", "scim_group_created",
            "group_member_added", "group_member_removed", "scim_group_deleted", "user_deleted"]
        assert all(r.target == "dave@example.com" for r in rows if r.target_user_id)
        assert audit.verify(db, rows[0].organisation_id).intact


def test_a_new_user_name_is_a_new_sign_in_address_and_the_old_one_is_audited(scim, services, factory):
    factory.user("old@example.com")
    user_id = _id_of(scim, "old@example.com")
    reply = scim.patch(f"/Users/{user_id}", {"op": "replace", "path": "userName", "value": "New@Example.com"})
    assert reply.status_code == 200 and reply.json["userName"] == "new@example.com"
    with services.database.session() as db:
        account = db.scalar(sa.select(User).where(User.subject == user_id))
        assert (account.email, account.email_verified) == ("new@example.com", False)
        entry = db.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (entry.event, entry.actor, entry.target) == ("scim_user_linked", "scim:Entra ID", "new@example.com")
        assert entry.details["previous_email"] == "old@example.com" and "userName" in entry.details["changed"]
