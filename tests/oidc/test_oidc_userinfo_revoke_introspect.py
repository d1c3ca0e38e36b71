"""UserInfo (OIDC Core §5.3, RFC 6750), revocation (RFC 7009) and introspection (RFC 7662).
Revocation and introspection are for confidential clients, about their own tokens."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import User
from tests.support.oidc_client import counts

OFFLINE = "openid email offline_access"


# --- userinfo ------------------------------------------------------------------------------------

def test_userinfo_releases_claims_by_scope(rp):
    for method in ("GET", "POST"):
        _check_claims_by_scope(rp, method)


def _check_claims_by_scope(rp, method: str) -> None:  # noqa: ANN001
    everything = rp.tokens(scope="openid profile email")["access_token"]
    info = rp.userinfo(everything, method)
    assert info.status == 200, info.json
    assert info.json == {"sub": info.json["sub"], "email": "alice@example.com", "email_verified": False,
                         "name": "Alice Example", "preferred_username": "alice@example.com"}
    assert info.headers["Cache-Control"] == "no-store"
    assert info.headers["Content-Type"].startswith("application/json")

    only_openid = rp.userinfo(rp.tokens(scope="openid")["access_token"], method).json
    assert set(only_openid) == {"sub"}
    email_only = rp.userinfo(rp.tokens(scope="openid email")["access_token"], method).json
    assert set(email_only) == {"sub", "email", "email_verified"}
    profile_only = rp.userinfo(rp.tokens(scope="openid profile")["access_token"], method).json
    assert set(profile_only) == {"sub", "name", "preferred_username"}


def test_userinfo_sub_matches_the_id_token(rp):
    tokens = rp.tokens()
    assert rp.userinfo(tokens["access_token"]).json["sub"] == rp.id_token_claims(tokens["id_token"])["sub"]


def test_userinfo_without_token_asks_for_one(client):
    for method in ("GET", "POST"):
        response = client.open("/userinfo", method=method)
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_request"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_with_an_unknown_token(client):
    response = client.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_token_in_query_string_is_not_accepted(rp, client):
    token = rp.tokens()["access_token"]
    response = client.get(f"/userinfo?access_token={token}")
    assert response.status_code == 401


def test_userinfo_needs_the_openid_scope(rp):
    token = rp.tokens(scope="email")["access_token"]
    reply = rp.userinfo(token)
    assert (reply.status, reply.error) == (403, "insufficient_scope")


def test_userinfo_refuses_expired_tokens(rp, frozen_clock):
    token = rp.tokens()["access_token"]
    frozen_clock.advance(seconds=3601)
    reply = rp.userinfo(token)
    assert (reply.status, reply.error) == (401, "invalid_token")


def test_userinfo_refuses_tokens_of_disabled_users(rp, services):
    token = rp.tokens()["access_token"]
    with services.database.session() as db:
        db.execute(sa.update(User).values(is_active=False))
    assert rp.userinfo(token).status == 401
    assert rp.introspect(token).json == {"active": False}


def test_userinfo_answers_cross_origin_requests_are_not_cookies_based(rp, client):
    """A browser session cookie alone gives nothing: only the bearer token counts."""
    rp.tokens()
    assert client.get("/userinfo").status_code == 401


# --- revocation ----------------------------------------------------------------------------------

def test_revoking_an_access_token(rp):
    tokens = rp.tokens()
    reply = rp.revoke(tokens["access_token"], "access_token")
    assert reply.status == 200
    assert rp.userinfo(tokens["access_token"]).status == 401
    assert rp.introspect(tokens["access_token"]).json == {"active": False}


def test_revoking_a_refresh_token_ends_its_family(rp):
    first = rp.tokens(scope=OFFLINE)
    second = rp.refresh(first["refresh_token"]).json
    other = rp.tokens(scope=OFFLINE)
    assert rp.revoke(second["refresh_token"], "refresh_token").status == 200
    assert rp.refresh(second["refresh_token"]).error == "invalid_grant"
    assert rp.userinfo(second["access_token"]).status == 401
    assert rp.userinfo(first["access_token"]).status == 401
    assert rp.userinfo(other["access_token"]).status == 200


def test_revoking_without_hint_finds_either_kind(rp):
    tokens = rp.tokens(scope=OFFLINE)
    assert rp.revoke(tokens["refresh_token"]).status == 200
    assert rp.refresh(tokens["refresh_token"]).error == "invalid_grant"


def test_revoking_an_unknown_token_is_200(rp, services):
    rp.tokens()
    before = counts(services)
    assert rp.revoke("no-such-token").status == 200
    assert counts(services) == before


def test_revoking_with_wrong_secret_changes_nothing(rp, services):
    tokens = rp.tokens()
    rp.reg.secret = "wrong"
    for auth in ("post", "basic"):
        reply = rp.revoke(tokens["access_token"], auth=auth)
        assert (reply.status, reply.error) == (401, "invalid_client")
    assert counts(services)["live_tokens"] == 1
    assert rp.userinfo(tokens["access_token"]).status == 200


def test_public_clients_cannot_revoke_or_introspect(public_rp, services):
    tokens = public_rp.tokens()
    for reply in (public_rp.revoke(tokens["access_token"], auth="none"),
                  public_rp.introspect(tokens["access_token"], auth="none")):
        assert reply.error == "invalid_client" and reply.status == 401, reply.json
        assert "active" not in reply.json
    assert counts(services)["live_tokens"] == 1
    assert public_rp.userinfo(tokens["access_token"]).status == 200


def test_a_client_cannot_revoke_another_clients_token(make_rp, alice, services):
    rp, other = make_rp(), make_rp()
    tokens = rp.tokens()
    reply = other.revoke(tokens["access_token"])
    assert reply.status == 400 and reply.error
    assert rp.userinfo(tokens["access_token"]).status == 200
    assert counts(services)["live_tokens"] == 1


def test_revocation_needs_a_token_and_a_known_hint(rp):
    assert rp._post("/revoke", {}).error == "invalid_request"
    assert rp.revoke("x", hint="id_token").error == "unsupported_token_type"


# --- introspection -------------------------------------------------------------------------------

def test_introspecting_a_live_access_token(rp, frozen_clock):
    tokens = rp.tokens()
    info = rp.introspect(tokens["access_token"])
    now = int(frozen_clock().timestamp())
    assert info.status == 200
    assert info.json == {"active": True, "client_id": rp.client_id, "token_type": "Bearer",
                         "scope": "openid profile email", "sub": rp.id_token_claims(tokens["id_token"])["sub"],
                         "aud": rp.client_id, "iss": "http://localhost", "exp": now + 3600, "iat": now}


def test_introspecting_a_refresh_token(rp, frozen_clock):
    tokens = rp.tokens(scope=OFFLINE)
    info = rp.introspect(tokens["refresh_token"], "refresh_token").json
    assert info["active"] is True and info["exp"] == int(frozen_clock().timestamp()) + 30 * 86400
    frozen_clock.advance(hours=2)                     # access token expired, refresh token alive
    assert rp.introspect(tokens["access_token"]).json == {"active": False}
    assert rp.introspect(tokens["refresh_token"]).json["active"] is True


def test_introspecting_unknown_expired_or_foreign_tokens(make_rp, alice, frozen_clock):
    rp, other = make_rp(), make_rp()
    tokens = rp.tokens()
    assert rp.introspect("no-such-token").json == {"active": False}
    assert other.introspect(tokens["access_token"]).json == {"active": False}
    frozen_clock.advance(seconds=3601)
    assert rp.introspect(tokens["access_token"]).json == {"active": False}


def test_introspection_with_wrong_secret(rp):
    tokens = rp.tokens()
    rp.reg.secret = "wrong"
    reply = rp.introspect(tokens["access_token"])
    assert (reply.status, reply.error) == (401, "invalid_client")
    assert "active" not in reply.json
