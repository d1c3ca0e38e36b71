"""The happy path through the Flask test client: authorize → password → code → tokens → userinfo."""
from __future__ import annotations

import base64

from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, decode_id_token, pkce_pair


def test_password_sign_in_issues_code_and_tokens(browser, client, factory):
    factory.user("alice@example.com", name="Alice")
    rp = factory.client()
    verifier, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    assert page.status == 200 and 'autocomplete="username"' in page.text
    done = browser.sign_in(page, "alice@example.com", PASSWORD)
    assert done.location and done.location.startswith(rp.redirect_uri), done.text
    code = done.query["code"]
    assert done.query["iss"] == "http://localhost"
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    response = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": rp.redirect_uri, "code_verifier": verifier},
                           headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    tokens = response.get_json()
    jwks = client.get("/jwks").get_json()
    claims = decode_id_token(tokens["id_token"], jwks)
    assert claims["amr"] == ["pwd"] and claims["aud"] == [rp.client_id] or claims["aud"] == rp.client_id
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["email"] == "alice@example.com"
