"""With an https issuer the session cookie is Secure (and __Host- prefixed) and HSTS is sent."""
from __future__ import annotations

import pytest


@pytest.fixture
def issuer() -> str:
    return "https://idp.example"


def test_session_cookie_is_secure_when_the_issuer_is_https(client, factory):
    rp = factory.client()
    params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
              "scope": "openid", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
              "code_challenge_method": "S256", "state": "s"}
    response = client.get("/authorize", query_string=params, base_url="https://idp.example")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-idp_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Domain=" not in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_discovery_uses_the_https_issuer(client):
    meta = client.get("/.well-known/openid-configuration", base_url="https://idp.example").get_json()
    assert meta["issuer"] == "https://idp.example"
    assert all(meta[k].startswith("https://idp.example/") for k in
               ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"))
