"""Security review F-04 (fixed): /logout signs the browser out without asking only when `id_token_hint` was
issued to this browser's own session (its `sid`); any other ID token, even one this IdP signed, gets the
confirmation page (OpenID Connect RP-Initiated Logout 1.0 §2), so an <img src> on another site cannot sign
people out."""
from __future__ import annotations

import base64

from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.browser import Browser


def _id_token(browser, client, rp, email):  # noqa: ANN001, ANN202
    verifier, challenge = pkce_pair()
    done = browser.sign_in(browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge)), email, PASSWORD)
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    return client.post("/token", data={"grant_type": "authorization_code", "code": done.query["code"],
                                       "redirect_uri": rp.redirect_uri, "code_verifier": verifier},
                       headers={"Authorization": f"Basic {basic}"}).get_json()["id_token"]


def test_foreign_id_token_hint_does_not_sign_out_victim_without_confirmation(app, browser, factory):
    factory.user("victim@example.com")
    factory.user("mallory@example.com")
    rp = factory.client()
    attacker = Browser(client=app.test_client())
    mallory_token = _id_token(attacker, attacker.client, rp, "mallory@example.com")

    _id_token(browser, browser.client, rp, "victim@example.com")            # the victim is signed in
    assert browser.open("/account/security").status == 200
    browser.open(f"/logout?id_token_hint={mallory_token}")                  # cross-site <img src=...>
    after = browser.open("/account/security")
    # The secure behaviour: the victim's session survives (or a confirmation page is shown instead).
    assert 'name="password"' not in after.text and 'id="security"' in after.text, "victim was signed out"
