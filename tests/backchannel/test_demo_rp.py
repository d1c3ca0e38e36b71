"""The demo app of `make run` implements the back-channel logout endpoint: it accepts our Logout Token for
its session (and the next page shows it was signed out), and refuses one that is not valid."""
from __future__ import annotations

import importlib.util
from types import ModuleType
from urllib.parse import urlencode

import pytest
from joserfc.jwk import KeySet

from idp.backchannel.logout_token import encode_logout_token, logout_token_claims
from idp.clock import now
from tests.support.servers import ROOT

from .conftest import signed_in


@pytest.fixture
def demo(monkeypatch, config, make_rp, receiver, alice) -> tuple[ModuleType, object]:  # noqa: ANN001
    rp = make_rp()
    monkeypatch.setenv("DEMO_ISSUER", config.issuer)
    monkeypatch.setenv("DEMO_CLIENT_ID", rp.client_id)
    monkeypatch.setenv("DEMO_CLIENT_SECRET", rp.reg.secret)
    spec = importlib.util.spec_from_file_location("demo_rp_under_test", ROOT / "examples" / "demo_rp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "_issuer_keys", lambda refresh=False: KeySet.import_key_set(rp.jwks()))
    module.app.config["SERVER_NAME"] = "127.0.0.1:9000"
    return module, rp


def _signed_in_demo(module: ModuleType, claims: dict, id_token: str):  # noqa: ANN202
    """The demo app's browser after its callback stored this sign-in."""
    browser = module.app.test_client()
    with browser.session_transaction() as session:
        session.update(claims=claims, id_token=id_token, sid=claims["sid"])
    module.SESSIONS.signed_in(claims["sid"], claims["sub"])
    return browser


def test_the_demo_app_ends_its_session_when_told(demo, receiver):
    module, rp = demo
    tokens = signed_in(rp)
    browser = _signed_in_demo(module, tokens["claims"], tokens["id_token"])
    assert "Signed in as" in browser.get("/").get_data(as_text=True)
    rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))      # signed out at the IdP
    (token,) = receiver.tokens()
    answer = module.app.test_client().post("/backchannel-logout", data={"logout_token": token})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    page = browser.get("/").get_data(as_text=True)
    assert 'id="backchannel-notice"' in page and "Signed in as" not in page


@pytest.mark.parametrize("change", ["nonce", "audience", "issuer", "event", "typ", "signature", "expired"])
def test_the_demo_app_refuses_a_token_that_is_not_valid(demo, services, change):
    module, rp = demo
    tokens = signed_in(rp)
    browser = _signed_in_demo(module, tokens["claims"], tokens["id_token"])
    claims = logout_token_claims(issuer=rp.issuer, client_id=rp.client_id, subject=tokens["claims"]["sub"],
                                 sid=tokens["claims"]["sid"], at=now())
    if change == "nonce":
        claims["nonce"] = "n-1"
    elif change == "audience":
        claims["aud"] = "another-client"
    elif change == "issuer":
        claims["iss"] = "https://evil.example.com"
    elif change == "event":
        claims["events"] = {}
    elif change == "expired":
        claims["iat"] -= 3600
        claims["exp"] -= 3600
    with services.database.session() as db:
        key = services.keys.signing_key(db, "RS256")
    token = encode_logout_token(claims, key, "RS256")
    if change == "typ":
        token = tokens["id_token"]                         # an ID token is not a Logout Token
    elif change == "signature":
        head, body, signature = token.split(".")
        token = ".".join((head, body, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")))
    answer = module.app.test_client().post("/backchannel-logout", data={"logout_token": token})
    assert answer.status_code == 400
    assert "Signed in as" in browser.get("/").get_data(as_text=True)       # nothing ended
