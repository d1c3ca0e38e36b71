"""Security review F-03 (fixed): a client registered by one organisation (Administration > Clients) signs in
only that organisation's users. `/authorize` for another organisation's user ends with `access_denied`, even
with `prompt=none` and an existing session, so the client never learns who the visitor is. Deployment-wide
clients (created with `idp client create` without --org, such as Fentu FSM itself) serve every organisation."""
from __future__ import annotations

from tests.support.factors import amr_of  # noqa: F401
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, decode_id_token, pkce_pair


def test_client_of_one_organisation_does_not_silently_sign_in_users_of_another(browser, client, factory):
    factory.org("acme", domains=("acme.example.com",))
    factory.org("globex", domains=("globex.example.com",))
    factory.user("bob@globex.example.com", org="globex", name="Bob Globex")
    globex_app = factory.client(org="globex", redirect_uri="https://app.globex.example.com/cb")
    acme_app = factory.client(org="acme", redirect_uri="https://evil.acme.example.com/cb")  # ACME admin's client

    # Bob signs in to his own organisation's application as usual
    _, challenge = pkce_pair()
    page = browser.open(authorize_url(globex_app.client_id, globex_app.redirect_uri, challenge))
    done = browser.sign_in(page, "bob@globex.example.com", PASSWORD)
    assert done.location.startswith(globex_app.redirect_uri)

    # later Bob's browser is sent (hidden) to ACME's client with prompt=none
    verifier, challenge = pkce_pair()
    silent = browser.open(authorize_url(acme_app.client_id, acme_app.redirect_uri, challenge, prompt="none"))
    code = silent.query.get("code")
    if code:
        import base64
        basic = base64.b64encode(f"{acme_app.client_id}:{acme_app.secret}".encode()).decode()
        token = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": acme_app.redirect_uri, "code_verifier": verifier},
                            headers={"Authorization": f"Basic {basic}"}).get_json()
        claims = decode_id_token(token["id_token"], client.get("/jwks").get_json())
        leaked = claims.get("email") or claims.get("sub")
    else:
        leaked = None
    # The secure behaviour: no code for a user outside the client's organisation (or at least not silently).
    assert code is None, f"ACME's client silently received Globex user's identity: {leaked}"
