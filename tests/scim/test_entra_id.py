"""Microsoft Entra ID's provisioning requests, as its documentation shows them ("Develop a SCIM endpoint",
request/response examples), replayed against /scim/v2: the accounts and groups they must produce."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import ScimUser, User

from .conftest import ENTERPRISE, GROUP, USER

EXTERNAL_ID = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"


def _entra_create_body(email: str) -> dict:
    return {"schemas": [USER, ENTERPRISE], "externalId": EXTERNAL_ID, "userName": email, "active": True,
            "emails": [{"primary": True, "type": "work", "value": email}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": []}


def _account(services, email: str) -> User | None:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            user.group_names  # noqa: B018 - load before the session closes
            db.expunge_all()
        return user


def test_user_lifecycle(scim, services):
    email = "test_user_ab6490ee@contoso.com"
    # "test connection" and the first sync: does the user exist?
    reply = scim.get("/Users", filter='userName eq "Test_User_ab6490ee@contoso.com"')
    assert (reply.status_code, reply.json["totalResults"], reply.json["Resources"]) == (200, 0, [])
    assert reply.content_type == "application/scim+json"

    created = scim.post("/Users", _entra_create_body("Test_User_ab6490ee@contoso.com"))
    assert created.status_code == 201, created.json
    user_id = created.json["id"]
    assert created.headers["Location"].endswith(f"/scim/v2/Users/{user_id}")
    assert created.json["userName"] == email and created.json["externalId"] == EXTERNAL_ID
    account = _account(services, email)
    assert account.subject == user_id and account.is_active and account.password_hash is None
    assert account.name == "givenName familyName" and account.organisation.slug == "default"

    found = scim.get("/Users", filter=f'userName eq "{email}"')
    assert [r["id"] for r in found.json["Resources"]] == [user_id]

    # attribute changes, with the operation names capitalised as Entra sends them
    reply = scim.patch(f"/Users/{user_id}",
                       {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@contoso.com"},
                       {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                       {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "2819c223-7f76-453a-919d"})
    assert reply.status_code == 200, reply.json
    assert reply.json["emails"] == [{"primary": True, "type": "work", "value": "updatedEmail@contoso.com"}]
    assert reply.json["name"]["familyName"] == "updatedFamilyName"
    assert reply.json[ENTERPRISE]["manager"]["value"] == "2819c223-7f76-453a-919d"
    assert reply.json["userName"] == email          # the sign-in name follows userName, not emails

    # disable ("active" as the string "False", as some Entra versions send it), then enable again
    reply = scim.patch(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"})
    assert (reply.status_code, reply.json["active"]) == (200, False)
    assert _account(services, email).is_active is False
    reply = scim.patch(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": True})
    assert _account(services, email).is_active is True

    assert scim.delete(f"/Users/{user_id}").status_code == 204
    assert _account(services, email) is None
    assert scim.get(f"/Users/{user_id}").status_code == 404


def test_group_lifecycle(scim, services):
    alice = scim.post("/Users", _entra_create_body("alice@contoso.com")).json["id"]
    body = {"schemas": [GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Sales",
            "meta": {"resourceType": "Group"}}
    created = scim.post("/Groups", body)
    assert created.status_code == 201, created.json
    group_id = created.json["id"]
    assert "members" not in created.json

    found = scim.get("/Groups", filter='displayName eq "Sales"', excludedAttributes="members")
    assert [g["id"] for g in found.json["Resources"]] == [group_id]

    add = scim.patch(f"/Groups/{group_id}", {"op": "Add", "path": "members", "value": [{"$ref": None, "value": alice}]})
    assert add.status_code == 200, add.json
    assert [m["value"] for m in add.json["members"]] == [alice]
    assert _account(services, "alice@contoso.com").group_names == {"Sales"}
    member = scim.get("/Groups", filter=f'id eq "{group_id}" and members[value eq "{alice}"]',
                      excludedAttributes="members")
    assert member.json["totalResults"] == 1 and "members" not in member.json["Resources"][0]

    renamed = scim.patch(f"/Groups/{group_id}", {"op": "Replace", "path": "displayName", "value": "Sales EMEA"})
    assert renamed.json["displayName"] == "Sales EMEA"
    assert _account(services, "alice@contoso.com").group_names == {"Sales EMEA"}

    # Entra removes a member with a value instead of a path filter
    remove = scim.patch(f"/Groups/{group_id}",
                        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": alice}]})
    assert remove.status_code == 200 and "members" not in remove.json
    assert _account(services, "alice@contoso.com").group_names == frozenset()
    assert scim.get("/Groups", filter=f'id eq "{group_id}" and members[value eq "{alice}"]').json["totalResults"] == 0

    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    assert scim.get(f"/Groups/{group_id}").status_code == 404


def test_a_user_who_already_signed_in_through_sso_is_taken_over_not_duplicated(scim, services, factory):
    """The account exists (made by single sign-on or by an administrator): Entra's create links to it."""
    factory.user("carol@contoso.com", password=None, name="Carol")
    reply = scim.post("/Users", _entra_create_body("Carol@Contoso.com"))
    assert reply.status_code == 201, reply.json
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(User.id)).where(User.email == "carol@contoso.com")) == 1
        account = db.scalar(sa.select(User).where(User.email == "carol@contoso.com"))
        assert reply.json["id"] == account.subject
        assert db.get(ScimUser, account.id).external_id == EXTERNAL_ID
    # a second create for the same person is a conflict, not a second account
    again = scim.post("/Users", _entra_create_body("carol@contoso.com"))
    assert (again.status_code, again.json["scimType"]) == (409, "uniqueness")
