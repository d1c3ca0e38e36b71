"""Issue 13: an idle-expired browser session can no longer be used, but signing out still ends it: RP-initiated
logout revokes the refresh tokens it received, and a forged cross-site logout still changes nothing."""
from __future__ import annotations

from urllib.parse import urlencode

from tests.support.browser import Browser
from tests.support.oidc_client import Rp


def test_logout_after_idling_still_revokes_the_session_s_tokens(rp, frozen_clock):
    tokens = rp.tokens(scope="openid offline_access")
    frozen_clock.advance(minutes=45)                       # the browser session went idle
    rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    assert rp.refresh(tokens["refresh_token"]).error == "invalid_grant"


def test_a_foreign_hint_does_not_sign_out_an_idle_session(rp, make_rp, app, factory, frozen_clock):
    tokens = rp.tokens(scope="openid offline_access")
    factory.user("mallory@example.com")
    mallory = Rp(app.test_client(), Browser(client=app.test_client()), rp.reg, rp.issuer)
    foreign = mallory.tokens("mallory@example.com")["id_token"]
    frozen_clock.advance(minutes=45)
    rp.browser.open("/logout?" + urlencode({"id_token_hint": foreign}))   # a cross-site request with her hint
    assert rp.refresh(tokens["refresh_token"]).error is None
