"""ID tokens (OIDC Core §2, §3.1.3.6/7) and when a browser session is reused (§3.1.2.1: prompt, max_age,
id_token_hint, login_hint)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.models import Client, User
from tests.support.browser import Browser
from tests.support.oidc_client import Rp, counts, query_of

ISSUER = "http://localhost"


def _other_browser(app, rp: Rp) -> Rp:  # noqa: ANN001
    """The same client, used from a second browser (its own cookies)."""
    http = app.test_client()
    return Rp(http, Browser(client=http), rp.reg, rp.issuer)


def _sign_in_page(rp: Rp, **extra: str) -> tuple:
    params, verifier = rp.params(**extra)
    return rp.open_authorize(params), params, verifier


def test_id_token_has_every_required_claim(rp, services, frozen_clock):
    done = rp.code_for(nonce="n-0S6_WzA2Mj")
    tokens = rp.exchange(done).json
    claims = rp.id_token_claims(tokens["id_token"])
    with services.database.session() as db:
        subject = db.scalar(sa.select(User.subject).where(User.email == "alice@example.com"))
    now = int(frozen_clock().timestamp())
    assert claims["iss"] == ISSUER
    assert claims["aud"] == [rp.client_id] and claims["azp"] == rp.client_id
    assert claims["sub"] == subject
    assert claims["iat"] == now and claims["exp"] == now + 3600
    assert claims["auth_time"] == now
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:fentu:acr:password"
    assert claims["sid"] and len(claims["sid"]) >= 22
    assert claims["at_hash"]


def test_sub_is_stable_opaque_and_the_same_for_every_client(make_rp, alice, app, services):
    rp, other_client = make_rp(), make_rp()
    first = rp.id_token_claims(rp.tokens()["id_token"])["sub"]
    second = rp.id_token_claims(rp.tokens()["id_token"])["sub"]
    third = other_client.id_token_claims(other_client.tokens()["id_token"])["sub"]
    fresh_browser = _other_browser(app, rp)
    fourth = rp.id_token_claims(fresh_browser.tokens()["id_token"])["sub"]
    assert first == second == third == fourth
    assert "alice" not in first.lower() and "@" not in first
    assert first != str(alice) and len(first) >= 16
    assert rp.userinfo(rp.tokens()["access_token"]).json["sub"] == first


def test_nonce_is_absent_when_not_sent(rp):
    claims = rp.id_token_claims(rp.tokens(nonce=None)["id_token"])
    assert "nonce" not in claims


def test_rs256_by_default_with_a_published_kid(rp):
    token = rp.tokens()["id_token"]
    header = rp.id_token_header(token)
    assert header["alg"] == "RS256"
    published = {k["kid"]: k for k in rp.jwks()["keys"]}
    assert published[header["kid"]]["kty"] == "RSA"


def test_es256_for_a_client_that_asks_for_it(rp, services):
    with services.database.session() as db:
        db.execute(sa.update(Client).where(Client.client_id == rp.client_id)
                   .values(id_token_signed_response_alg="ES256"))
    token = rp.tokens()["id_token"]
    header = rp.id_token_header(token)
    assert header["alg"] == "ES256"
    assert {k["kid"]: k for k in rp.jwks()["keys"]}[header["kid"]]["kty"] == "EC"
    assert rp.id_token_claims(token)["aud"] == [rp.client_id]


def test_prompt_login_forces_a_fresh_sign_in_and_auth_time_shows_it(rp, frozen_clock):
    first = rp.id_token_claims(rp.tokens()["id_token"])
    frozen_clock.advance(minutes=5)
    page, params, verifier = _sign_in_page(rp, prompt="login")
    assert page.status == 200 and 'name="password"' in page.text, "prompt=login must ask again"
    second = rp.id_token_claims(rp.tokens(prompt="login")["id_token"])
    assert second["auth_time"] == first["auth_time"] + 300
    assert second["sid"] != first["sid"]


def test_without_prompt_the_session_is_reused_and_auth_time_kept(rp, frozen_clock):
    first = rp.id_token_claims(rp.tokens()["id_token"])
    frozen_clock.advance(minutes=5)
    page, params, verifier = _sign_in_page(rp)
    assert page.location and "code=" in page.location, "a signed-in browser gets a code straight away"
    second = rp.id_token_claims(rp.tokens()["id_token"])
    assert second["auth_time"] == first["auth_time"] and second["sid"] == first["sid"]
    assert second["iat"] == first["iat"] + 300


def test_max_age_within_reuses_and_beyond_forces_sign_in(rp, frozen_clock):
    first = rp.id_token_claims(rp.tokens()["id_token"])
    frozen_clock.advance(seconds=30)
    reused = rp.id_token_claims(rp.tokens(max_age="60")["id_token"])
    assert reused["auth_time"] == first["auth_time"]
    frozen_clock.advance(seconds=61)
    page, _, _ = _sign_in_page(rp, max_age="60")
    assert page.status == 200 and 'name="password"' in page.text
    fresh = rp.id_token_claims(rp.tokens(max_age="60")["id_token"])
    assert fresh["auth_time"] == first["auth_time"] + 91


def test_max_age_exceeded_with_prompt_none_is_login_required(rp, frozen_clock, services):
    rp.tokens()
    frozen_clock.advance(seconds=120)
    before = counts(services)
    params, _ = rp.params(prompt="none", max_age="60")
    page = rp.open_authorize(params)
    query = query_of(page.location)
    assert query["error"] == "login_required" and query["state"] == params["state"] and query["iss"] == ISSUER
    assert counts(services) == before


def test_id_token_hint_for_another_user_is_not_silently_reused(rp, app, factory, services):
    factory.user("bob@example.com", name="Bob")
    bob_browser = _other_browser(app, rp)
    bob_token = bob_browser.tokens("bob@example.com")["id_token"]
    rp.tokens()                                                   # alice is signed in in this browser
    before = counts(services)

    silent, _ = rp.params(prompt="none", id_token_hint=bob_token)
    page = rp.open_authorize(silent)
    assert query_of(page.location)["error"] == "login_required"
    assert counts(services)["codes"] == before["codes"]

    page, _, _ = _sign_in_page(rp, id_token_hint=bob_token)
    assert page.status == 200 and 'name="password"' in page.text, "must ask who is signing in"
    assert counts(services)["codes"] == before["codes"]


def test_id_token_hint_for_the_signed_in_user_allows_prompt_none(rp):
    tokens = rp.tokens()
    done = rp.sign_in(prompt="none", id_token_hint=tokens["id_token"])
    assert "code" in done.query


def test_id_token_hint_not_issued_by_us_is_not_trusted(rp):
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    claims = rp.id_token_claims(rp.tokens()["id_token"])
    forged = jwt.encode({"alg": "RS256"}, {**claims}, RSAKey.generate_key(2048, private=True))
    params, _ = rp.params(prompt="none", id_token_hint=forged)
    assert query_of(rp.open_authorize(params).location)["error"] == "login_required"


def test_login_hint_for_another_account_starts_a_new_sign_in(rp, factory):
    factory.user("bob@example.com")
    rp.tokens()
    page, _, _ = _sign_in_page(rp, login_hint="bob@example.com")
    assert page.status == 200 and 'name="password"' in page.text


def test_login_hint_prefills_the_email(rp):
    page, _, _ = _sign_in_page(rp, login_hint="alice@example.com")
    assert page.status == 200
    assert page.form("password").fields["email"] == "alice@example.com"


def test_id_token_claims_use_the_granted_scope_only(rp):
    claims = rp.id_token_claims(rp.tokens(scope="openid")["id_token"])
    assert "email" not in claims and "name" not in claims
