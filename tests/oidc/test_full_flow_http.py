"""A whole sign-in over real HTTP, as a standard relying party does it.

The IdP runs in a werkzeug server on a free port (issuer http://127.0.0.1:PORT); the relying party is
authlib's httpx OAuth2Client (PKCE S256, client_secret_basic); an httpx.Client plays the browser.
discovery → authorize with PKCE → login form → code → tokens → ID token checked against the JWKS
(signature, iss, aud, exp, nonce) → userinfo → refresh → revoke → introspect → logout."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
import warnings
from urllib.parse import urlencode

import httpx
import pytest
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.browser import Browser
from tests.support.factory import PASSWORD
from tests.support.oidc_client import query_of
from tests.support.servers import ReservedPort, ThreadedServer

REDIRECT_URI = "http://127.0.0.1:9000/callback"
LOGOUT_URI = "http://127.0.0.1:9000/"


@pytest.fixture
def port() -> Iterator[ReservedPort]:
    """The app's port, held from the issuer URL in its config until its server starts."""
    reserved = ReservedPort()
    yield reserved
    reserved.close()


@pytest.fixture
def issuer(port: ReservedPort) -> str:
    return f"http://127.0.0.1:{port.number}"


def _validated_id_token(id_token: str, jwks: dict, *, issuer: str, client_id: str, nonce: str,
                        algorithms: list[str]) -> dict:
    """What an RP must check (OIDC Core §3.1.3.7): signature with a published key, iss, aud, exp, nonce."""
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=algorithms)
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": client_id},
        exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
        nonce={"essential": True, "value": nonce})
    registry.validate(token.claims)
    if isinstance(token.claims["aud"], list) and len(token.claims["aud"]) > 1:
        assert token.claims["azp"] == client_id
    assert token.header["kid"] in {k["kid"] for k in jwks["keys"]}
    return token.claims


def test_full_sign_in_through_a_real_http_server(app, factory, issuer, port):
    with warnings.catch_warnings():  # authlib 1.9 announces a future move to httpx2
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import OAuth2Client

    factory.user("alice@example.com", name="Alice Example")
    registered = factory.client(REDIRECT_URI, logout_uris=(LOGOUT_URI,))
    scope = "openid profile email offline_access"

    with ThreadedServer(app, port), httpx.Client(timeout=10) as browser_http, \
            OAuth2Client(registered.client_id, registered.secret, scope=scope, redirect_uri=REDIRECT_URI,
                         code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic",
                         timeout=10) as oauth:
        # 1. discovery, over HTTP
        meta = oauth.request("GET", f"{issuer}/.well-known/openid-configuration", withhold_token=True).json()
        assert meta["issuer"] == issuer
        jwks = oauth.request("GET", meta["jwks_uri"], withhold_token=True).json()

        # 2. authorize with PKCE (authlib derives the S256 challenge from the verifier)
        verifier, nonce = generate_token(64), secrets.token_urlsafe(16)
        url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                    nonce=nonce)
        assert "code_challenge_method=S256" in url and "code_challenge=" in url

        # 3. the browser follows it to the login form and signs in
        browser = Browser(http=browser_http, base=issuer)
        page = browser.open(url)
        assert page.status == 200 and 'autocomplete="current-password"' in page.text
        done = browser.sign_in(page, "alice@example.com", PASSWORD)
        assert done.location and done.location.startswith(REDIRECT_URI + "?"), (done.status, done.text[:500])
        callback = query_of(done.location)
        assert callback["state"] == state and callback["iss"] == issuer       # RFC 9207 mix-up defence
        cookie = browser_http.cookies.jar
        assert any(c.name == "idp_session" and c.has_nonstandard_attr("HttpOnly") for c in cookie)

        # 4. code → tokens (client_secret_basic + code_verifier)
        token = oauth.fetch_token(meta["token_endpoint"], authorization_response=done.location,
                                  code_verifier=verifier)
        assert token["token_type"].lower() == "bearer" and token["refresh_token"] and token["id_token"]
        assert set(token["scope"].split()) == set(scope.split())

        # 5. the ID token, checked as an RP must
        claims = _validated_id_token(token["id_token"], jwks, issuer=issuer, client_id=registered.client_id,
                                     nonce=nonce, algorithms=meta["id_token_signing_alg_values_supported"])
        assert claims["amr"] == ["pwd"] and claims["auth_time"] <= claims["iat"] and claims["sid"]
        sub = claims["sub"]

        # 6. userinfo with the bearer token (GET and POST)
        info = oauth.get(meta["userinfo_endpoint"])
        assert info.status_code == 200
        assert info.json() == {"sub": sub, "email": "alice@example.com", "email_verified": False,
                               "name": "Alice Example", "preferred_username": "alice@example.com"}
        assert oauth.post(meta["userinfo_endpoint"]).json()["sub"] == sub

        # 7. refresh: a new pair; the old refresh token is used up
        first = dict(token)
        refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=first["refresh_token"])
        assert refreshed["access_token"] != first["access_token"]
        assert refreshed["refresh_token"] != first["refresh_token"]
        assert oauth.get(meta["userinfo_endpoint"]).json()["sub"] == sub

        # 8. introspection (RFC 7662) of the live tokens
        live = oauth.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
        assert live["active"] is True and live["sub"] == sub and live["client_id"] == registered.client_id
        used_up = oauth.introspect_token(meta["introspection_endpoint"], token=first["refresh_token"],
                                         token_type_hint="refresh_token").json()
        assert used_up == {"active": False}

        # 9. revocation (RFC 7009) of the refresh token ends its family
        revoked = oauth.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"],
                                     token_type_hint="refresh_token")
        assert revoked.status_code == 200
        for value in (refreshed["access_token"], refreshed["refresh_token"], first["access_token"]):
            assert oauth.introspect_token(meta["introspection_endpoint"], token=value).json() == {"active": False}
        assert httpx.get(meta["userinfo_endpoint"],
                         headers={"Authorization": f"Bearer {refreshed['access_token']}"}).status_code == 401

        # 10. RP-initiated logout: back to the registered address with state; the session is over
        logout = browser.open(meta["end_session_endpoint"] + "?" + urlencode({
            "id_token_hint": token["id_token"], "post_logout_redirect_uri": LOGOUT_URI, "state": "bye"}))
        assert logout.status == 302 and logout.location == LOGOUT_URI + "?state=bye"
        again, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(64),
                                                  prompt="none")
        silent = browser.open(again)
        assert query_of(silent.location)["error"] == "login_required"
        assert query_of(silent.location)["iss"] == issuer
