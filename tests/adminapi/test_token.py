"""POST /token with grant_type=client_credentials (RFC 6749 §4.4): only a confidential client of one
organisation, only for API scopes an administrator granted it; stored as a digest; revocable (RFC 7009)."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models.client import ClientAccessToken
from idp.security.secrets import digest
from tests.adminapi.conftest import basic


def test_a_granted_scope_gets_a_bearer_token_without_refresh_token(orgs, api_client, token_for, services):
    made = api_client("acme", ("idp:users:read", "idp:audit:read"))
    response = token_for(made, "idp:users:read")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["token_type"] == "Bearer" and body["scope"] == "idp:users:read" and body["expires_in"] > 0
    assert "refresh_token" not in body and "id_token" not in body
    assert response.headers["Cache-Control"] == "no-store"
    with services.database.session() as db:
        row = db.scalar(sa.select(ClientAccessToken))
        assert row.token_digest == digest(body["access_token"]) and body["access_token"] not in row.token_digest


def test_a_scope_not_granted_is_invalid_scope_and_no_token_is_made(orgs, api_client, token_for, services):
    made = api_client("acme", ("idp:users:read",))
    response = token_for(made, "idp:users:read idp:2fa:reset")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_scope" and "idp:2fa:reset" in body["error_description"]
    assert "access_token" not in body
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(ClientAccessToken.id))) == 0


def test_an_unknown_or_openid_scope_is_invalid_scope(orgs, api_client, token_for):
    made = api_client("acme", ("idp:users:read",))
    for scope in ("openid", "idp:everything", "idp:users:read profile"):
        body = token_for(made, scope).get_json()
        assert body["error"] == "invalid_scope", (scope, body)


def test_a_request_without_scope_is_invalid_scope_naming_what_may_be_asked(orgs, api_client, token_for):
    made = api_client("acme", ("idp:users:read",))
    body = token_for(made, None).get_json()
    assert body["error"] == "invalid_scope" and "idp:users:read" in body["error_description"]


def test_a_client_without_api_scopes_may_not_use_the_grant(orgs, api_client, token_for):
    made = api_client("acme", ())
    response = token_for(made, "idp:users:read")
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"


def test_a_wrong_secret_is_invalid_client(orgs, api_client, token_for):
    made = api_client("acme", ("idp:users:read",))
    made.secret = "not-the-secret"
    response = token_for(made, "idp:users:read")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_a_deployment_wide_or_public_client_cannot_get_an_api_token(orgs, factory, client):
    for registered in (factory.client(), factory.client(public=True, org="acme")):
        form = {"grant_type": "client_credentials", "scope": "idp:users:read", "client_id": registered.client_id}
        headers = basic(registered.client_id, registered.secret) if registered.secret else {}
        response = client.post("/token", data=form, headers=headers)
        assert response.status_code in (400, 401), response.get_json()
        assert response.get_json()["error"] in ("unauthorized_client", "invalid_client")


def test_an_api_token_can_be_revoked_and_then_is_refused(orgs, api_client, token_for, client):
    made = api_client("acme", ("idp:users:read",))
    token = token_for(made, "idp:users:read").get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/users", headers=bearer).status_code == 200
    revoked = client.post("/revoke", data={"token": token}, headers=basic(made.client_id, made.secret))
    assert revoked.status_code == 200
    assert client.get("/api/v1/users", headers=bearer).status_code == 401


def test_a_user_access_token_is_not_an_api_token(orgs, api_client, services, client):
    """The authorization code grant cannot carry API scopes, and its access tokens are refused by the API."""
    from datetime import timedelta

    from idp.clock import now
    from idp.models import Token

    made = api_client("acme", ("idp:users:read",))
    with services.database.session() as db:
        db.add(Token(access_token_digest=digest("user-token"), client_id=made.client_id, user_id=orgs["acme"].admin_id,
                     scope="openid idp:users:read", family_id="f", issued_at=now(),
                     access_expires_at=now() + timedelta(minutes=5)))
    response = client.get("/api/v1/users", headers={"Authorization": "Bearer user-token"})
    assert response.status_code == 401


def test_the_client_can_introspect_its_api_token_and_another_client_cannot(orgs, api_client, token_for, client):
    made, other = api_client("acme", ("idp:users:read",)), api_client("acme", ("idp:users:read",))
    token = token_for(made, "idp:users:read").get_json()["access_token"]
    body = client.post("/introspect", data={"token": token}, headers=basic(made.client_id, made.secret)).get_json()
    assert body["active"] is True and body["client_id"] == made.client_id and body["scope"] == "idp:users:read"
    assert "sub" not in body
    foreign = client.post("/introspect", data={"token": token}, headers=basic(other.client_id, other.secret))
    assert foreign.get_json().get("active") is not True
    client.post("/revoke", data={"token": token}, headers=basic(made.client_id, made.secret))
    after = client.post("/introspect", data={"token": token}, headers=basic(made.client_id, made.secret))
    assert after.get_json() == {"active": False}
