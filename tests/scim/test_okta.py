"""Okta's SCIM 2.0 provisioning requests (Okta "SCIM 2.0 protocol reference"), replayed against /scim/v2."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import User

from .conftest import GROUP, USER

OKTA_ID = "00ujl29u0le5T6Aj10h7"


def _okta_user(email: str, **changes) -> dict:  # noqa: ANN003
    body = {"schemas": [USER], "userName": email, "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": True, "value": email, "type": "work"}], "displayName": "Test User",
            "locale": "en-US", "externalId": OKTA_ID, "groups": [], "active": True}
    return {**body, **changes}


def _account(services, email: str) -> User | None:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            user.group_names  # noqa: B018
            db.expunge_all()
        return user


def test_user_lifecycle(scim, services):
    email = "test.user@example.com"
    empty = scim.get("/Users", filter=f'userName eq "{email}"', startIndex="1", count="100")
    assert (empty.status_code, empty.json["totalResults"]) == (200, 0)

    created = scim.post("/Users", _okta_user(email))
    assert created.status_code == 201, created.json
    user_id = created.json["id"]
    assert created.json["locale"] == "en-US" and created.json["active"] is True

    assert scim.get(f"/Users/{user_id}").json["displayName"] == "Test User"

    # profile update: Okta sends the whole user with PUT
    put = scim.put(f"/Users/{user_id}", _okta_user(email, id=user_id, displayName="Test Q. User",
                                                   name={"givenName": "Test", "familyName": "User"}, locale="fr-FR"))
    assert put.status_code == 200, put.json
    assert (put.json["displayName"], put.json["locale"]) == ("Test Q. User", "fr-FR")
    assert _account(services, email).name == "Test Q. User"

    # deactivation: a path-less replace with a value object
    off = scim.patch(f"/Users/{user_id}", {"op": "replace", "value": {"active": False}})
    assert (off.status_code, off.json["active"]) == (200, False)
    assert _account(services, email).is_active is False

    on = scim.patch(f"/Users/{user_id}", {"op": "replace", "value": {"active": True}})
    assert on.json["active"] is True and _account(services, email).is_active is True


def test_group_push(scim, services):
    first = scim.post("/Users", _okta_user("one@example.com", externalId="00u1")).json["id"]
    second = scim.post("/Users", _okta_user("two@example.com", externalId="00u2")).json["id"]

    created = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})
    assert created.status_code == 201, created.json
    group_id = created.json["id"]

    renamed = scim.patch(f"/Groups/{group_id}",
                         {"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2 updated"}})
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["displayName"] == "Test SCIMv2 updated"

    added = scim.patch(f"/Groups/{group_id}", {"op": "add", "path": "members", "value": [
        {"value": first, "display": "one@example.com"}, {"value": second, "display": "two@example.com"}]})
    assert sorted(m["value"] for m in added.json["members"]) == sorted([first, second])
    assert _account(services, "one@example.com").group_names == {"Test SCIMv2 updated"}

    removed = scim.patch(f"/Groups/{group_id}", {"op": "remove", "path": f'members[value eq "{first}"]'})
    assert [m["value"] for m in removed.json["members"]] == [second]
    assert _account(services, "one@example.com").group_names == frozenset()
    assert _account(services, "two@example.com").group_names == {"Test SCIMv2 updated"}

    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    assert _account(services, "two@example.com").group_names == frozenset()


def test_password_sync_is_refused_with_a_clear_error(scim, services):
    reply = scim.post("/Users", _okta_user("pw@example.com", password="1mz050nq"))
    assert (reply.status_code, reply.json["scimType"]) == (400, "invalidValue")
    assert "passwords are not accepted" in reply.json["detail"]
    assert _account(services, "pw@example.com") is None
