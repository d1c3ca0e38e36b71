"""Who may use /scim/v2: a live token of one organisation, which sees and changes only that organisation
(everything else is 404); revoked or unknown tokens get 401; the rate limit per token; secrets at rest."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.audit import Actor
from idp.clock import now
from idp.models import ScimToken, User
from idp.provisioning import tokens

from .conftest import BASE, ERROR, GROUP, Scim, make_token, user_body


def test_without_a_token_nothing_is_served(client):
    for headers in ({}, {"Authorization": "Bearer scim_not-a-real-token"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        reply = client.get(f"{BASE}/Users", headers=headers)
        assert reply.status_code == 401
        assert reply.json["schemas"] == [ERROR] and reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_at_once(scim, services, client):
    assert scim.get("/Users").status_code == 200
    with services.database.session() as db:
        row = db.scalar(sa.select(ScimToken))
        assert tokens.revoke(db, row.organisation_id, row.id, Actor("cli:test"), now=now())
    reply = scim.get("/Users")
    assert reply.status_code == 401
    assert scim.post("/Users", user_body("late@example.com")).status_code == 401


def test_only_the_digest_is_stored(scim, services):
    with services.database.session() as db:
        row = db.scalar(sa.select(ScimToken))
        assert row.token_digest != scim.token and scim.token not in row.token_digest
        assert len(row.token_digest) == 64


def test_another_organisations_users_and_groups_do_not_exist(scim, other_scim, services):
    mine = scim.post("/Users", user_body("bob@example.com")).json["id"]
    theirs = other_scim.post("/Users", user_body("eve@acme-corp.com", external_id="okta-1")).json["id"]
    their_group = other_scim.post("/Groups", {"schemas": [GROUP], "displayName": "Admins",
                                              "members": [{"value": theirs}]}).json["id"]

    for path in (f"/Users/{theirs}", f"/Groups/{their_group}"):
        assert scim.get(path).status_code == 404
        assert scim.put(path, user_body("x@example.com") if "Users" in path
                        else {"schemas": [GROUP], "displayName": "Mine now"}).status_code == 404
        assert scim.patch(path, {"op": "replace", "path": "displayName", "value": "Mine"}).status_code == 404
        assert scim.delete(path).status_code == 404
    assert scim.get("/Users").json["totalResults"] == 1
    assert scim.get("/Users", filter='userName eq "eve@acme-corp.com"').json["totalResults"] == 0
    assert scim.get("/Users", filter=f'id eq "{theirs}"').json["totalResults"] == 0
    assert scim.get("/Groups", filter='displayName eq "Admins"').json["totalResults"] == 0
    # not as a member of one's own group either, and not by taking the address over
    reply = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Mine", "members": [{"value": theirs}]})
    assert (reply.status_code, reply.json["scimType"]) == (400, "invalidValue")
    reply = scim.post("/Users", user_body("eve@acme-corp.com"))
    assert reply.status_code in (400, 409)
    with services.database.session() as db:
        eve = db.scalar(sa.select(User).where(User.email == "eve@acme-corp.com"))
        assert eve.is_active and eve.organisation.slug == "acme" and eve.group_names == {"Admins"}
    assert other_scim.get(f"/Users/{theirs}").status_code == 200
    assert other_scim.get(f"/Users/{mine}").status_code == 404


class TestRateLimit:
    @pytest.fixture
    def config_overrides(self):  # noqa: ANN201
        return {"rate_limit": {"scim_per_token": "3/minute"}}

    def test_the_token_is_limited_and_another_token_is_not(self, client, services):
        first = Scim(client, make_token(services, "default"))
        second = Scim(client, make_token(services, "default", "Okta"))
        statuses = [first.get("/Users").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429], statuses
        refused = first.get("/Users")
        assert refused.json["schemas"] == [ERROR] and int(refused.headers["Retry-After"]) > 0
        assert second.get("/Users").status_code == 200


def test_deployment_operators_are_out_of_reach(scim, services, factory):
    """An organisation's directory cannot disable, delete or take over the deployment operator's account."""
    from idp.models import UserPermission
    operator = factory.user("operator@example.com", admin=True)
    with services.database.session() as db:
        db.add(UserPermission(user_id=operator, name="system_admin"))
    assert scim.get("/Users", filter='userName eq "operator@example.com"').json["totalResults"] == 0
    reply = scim.post("/Users", user_body("operator@example.com"))
    assert (reply.status_code, reply.json["scimType"]) == (409, "uniqueness")
    with services.database.session() as db:
        subject = db.get(User, operator).subject
    assert scim.patch(f"/Users/{subject}", {"op": "replace", "path": "active", "value": False}).status_code == 404
    assert scim.delete(f"/Users/{subject}").status_code == 404
    with services.database.session() as db:
        assert db.get(User, operator).is_active


def test_cookies_never_authenticate_the_scim_api(app, browser, factory, services):
    """The API is exempt from CSRF because a browser's cookies give it nothing: only a bearer token does."""
    from idp.app import csrf
    from tests.admin.helpers import sign_in

    factory.user("admin@example.com", admin=True)
    page = sign_in(browser, "admin@example.com", "/admin/")
    assert page.status == 200                                      # signed in as an administrator
    reply = browser.client.post(f"{BASE}/Users", json=user_body("mallory@example.com"),
                                content_type="application/scim+json")
    assert reply.status_code == 401 and reply.json["schemas"] == [ERROR]
    assert "scim" in {getattr(b, "name", b) for b in csrf._exempt_blueprints}
    with services.database.session() as db:
        assert db.scalar(sa.select(User).where(User.email == "mallory@example.com")) is None


def test_database_trouble_is_a_scim_503(scim, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from idp.provisioning import users

    def down(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(users, "search", down)
    reply = scim.get("/Users")
    assert (reply.status_code, reply.json["schemas"], reply.headers["Retry-After"]) == (503, [ERROR], "30")
