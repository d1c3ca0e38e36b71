"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): only registered post_logout_redirect_uri,
state echoed, the browser session ended; anything doubtful changes nothing."""
from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa

from idp.models import BrowserSession
from tests.support.oidc_client import query_of

RETURN = "http://127.0.0.1:9000/"


def _live_sessions(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(BrowserSession.id)).where(BrowserSession.ended_at.is_(None)))


def _still_signed_in(rp) -> bool:  # noqa: ANN001
    params, _ = rp.params(prompt="none")
    return "code" in query_of(rp.open_authorize(params).location)


def test_logout_with_id_token_hint_returns_to_registered_uri_with_state(rp, services):
    tokens = rp.tokens()
    assert _live_sessions(services) == 1
    page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"],
                                                   "post_logout_redirect_uri": RETURN, "state": "bye-1"}))
    assert page.status == 302 and page.location == RETURN + "?state=bye-1"
    assert _live_sessions(services) == 0
    assert not _still_signed_in(rp)


def test_logout_without_state_returns_without_it(rp):
    tokens = rp.tokens()
    page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"],
                                                   "post_logout_redirect_uri": RETURN}))
    assert page.location == RETURN


def test_logout_by_post_from_the_rp(rp, services):
    tokens = rp.tokens()
    page = rp.browser.open("/logout", "POST", {"id_token_hint": tokens["id_token"],
                                               "post_logout_redirect_uri": RETURN, "state": "s"})
    assert page.location == RETURN + "?state=s"
    assert _live_sessions(services) == 0


def test_unregistered_post_logout_redirect_uri_is_refused_and_nothing_ends(rp, services):
    tokens = rp.tokens()
    for target in ("https://attacker.example/", "http://127.0.0.1:9000", "http://127.0.0.1:9000/?x=1",
                   rp.reg.redirect_uri):
        page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"],
                                                       "post_logout_redirect_uri": target, "state": "s"}))
        assert page.status == 400 and page.location is None, target
        assert "not registered" in page.text
    assert _live_sessions(services) == 1
    assert _still_signed_in(rp)


def test_redirect_uri_of_another_client_is_refused(make_rp, alice, services):
    rp = make_rp()
    other = make_rp(logout_uris=("http://127.0.0.1:9100/bye",))
    tokens = rp.tokens()
    page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"],
                                                   "post_logout_redirect_uri": "http://127.0.0.1:9100/bye"}))
    assert page.status == 400
    page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"], "client_id": other.client_id,
                                                   "post_logout_redirect_uri": "http://127.0.0.1:9100/bye"}))
    assert page.status == 400, "client_id must match the ID token's audience"
    assert _live_sessions(services) == 1


def test_post_logout_redirect_uri_without_any_client_is_refused(rp, services):
    rp.tokens()
    page = rp.browser.open("/logout?" + urlencode({"post_logout_redirect_uri": RETURN}))
    assert page.status == 400
    assert _live_sessions(services) == 1


def test_id_token_hint_we_did_not_issue_is_refused(rp, services):
    rp.tokens()
    page = rp.browser.open("/logout?" + urlencode({"id_token_hint": "eyJhbGciOiJub25lIn0.e30.",
                                                   "post_logout_redirect_uri": RETURN}))
    assert page.status == 400
    assert _live_sessions(services) == 1


def test_expired_id_token_hint_still_works(rp, services, frozen_clock):
    tokens = rp.tokens()
    frozen_clock.advance(hours=2)
    page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"],
                                                   "post_logout_redirect_uri": RETURN}))
    assert page.location == RETURN
    assert _live_sessions(services) == 0


def test_without_hint_the_user_confirms(rp, services):
    rp.tokens()
    page = rp.browser.open("/logout?" + urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": RETURN,
                                                   "state": "s2"}))
    assert page.status == 200 and "Sign out?" in page.text
    assert _live_sessions(services) == 1
    done = rp.browser.submit(page, "post_logout_redirect_uri", {})
    assert done.location == RETURN + "?state=s2"
    assert _live_sessions(services) == 0


def test_confirmation_without_csrf_token_changes_nothing(rp, services):
    rp.tokens()
    page = rp.browser.open("/logout", "POST", {"confirm": "yes"})
    assert page.status == 400
    assert _live_sessions(services) == 1
    assert _still_signed_in(rp)


def test_logout_without_return_shows_signed_out_page(rp, services):
    tokens = rp.tokens()
    page = rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    assert page.status == 200 and "signed out" in page.text
    assert _live_sessions(services) == 0


def test_logout_revokes_the_sessions_tokens(rp):
    tokens = rp.tokens(scope="openid offline_access")
    rp.browser.open("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    assert rp.refresh(tokens["refresh_token"]).error == "invalid_grant"
