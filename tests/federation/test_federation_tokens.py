"""What the IdP refuses from an upstream provider: ID tokens with a wrong nonce, issuer or audience, expired,
badly signed or signed with a key that is not published; error=access_denied; the state of another
sign-in; a replayed answer; providers that are down, silent, or stop answering half-way; Entra ID-style
multi-tenant issuers. The provider is a real OpenID provider over HTTP whose ID tokens the test writes
(tests/support/mini_op.py). Every refusal ends on a clear page, creates nothing and is audited."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from idp.federation.login import callback_url
from tests.federation.conftest import ACME
from tests.federation.helpers import audit_details, authorize, choose, counts, id_token_claims
from tests.support.mini_op import MiniOp, rsa_key, serve
from tests.support.servers import free_port

ENTRA_TEMPLATE = "{url}/{tenantid}/v2.0"


def entry(name: str, issuer: str, client_id: str = "mini-client", **extra: object) -> dict:
    return {"organisation": ACME, "name": name, "display_name": name.title(), "issuer": issuer,
            "client_id": client_id, "client_secret": "mini-secret", "second_factor": "upstream",
            "timeout_seconds": 2.0, **extra}


@pytest.fixture
def ops(issuer) -> Iterator[dict[str, MiniOp]]:  # noqa: ANN001
    made = {"mini": MiniOp(redirect_uri=callback_url(issuer)),
            "entra": MiniOp(redirect_uri=callback_url(issuer), client_id="entra-app", issuer_template=ENTRA_TEMPLATE,
                            email="pat@entra.example.org"),
            "fragile": MiniOp(redirect_uri=callback_url(issuer), email="pat@fragile.example.org")}
    with ExitStack() as stack:
        for op in made.values():
            stack.enter_context(serve(op))
        yield made


@pytest.fixture
def fragile(ops) -> Iterator[tuple[MiniOp, ExitStack]]:  # noqa: ANN001
    """A provider that can be switched off during a test: stop.close()."""
    op = MiniOp(redirect_uri=ops["mini"].redirect_uri, email="pat@fragile.example.org")
    with ExitStack() as stop:
        stop.enter_context(serve(op))
        yield op, stop


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung provider)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def providers(ops, fragile, silent_port) -> list[dict]:  # noqa: ANN001
    return [entry("mini", ops["mini"].url, claims={"groups": "groups"}),
            entry("entra", ops["entra"].url, "entra-app", multi_tenant=True, allowed_tenants=["tenant-1"]),
            entry("entra-single", ops["entra"].url, "entra-app"),          # should have said multi_tenant
            entry("fragile", fragile[0].url),
            entry("down", f"http://127.0.0.1:{free_port()}"),
            entry("slow", f"http://127.0.0.1:{silent_port}", timeout_seconds=0.5)]


@pytest.fixture
def web(browsers, ops):  # noqa: ANN001, ANN201
    return browsers(ops["mini"].url, ops["entra"].url)


def sign_in(web, rp, provider: str = "mini"):  # noqa: ANN001, ANN201
    started = authorize(web, rp)
    return choose(web, started.page, provider), started.verifier


def assert_refused(services, before: dict, page, problem: str, words: str) -> None:  # noqa: ANN001
    assert page.status == 403 and page.location is None, (page.status, page.location, page.text[:1500])
    assert words in page.text, page.text[:1500]
    assert "Start signing in again" in page.text
    assert counts(services) == before, "a refused sign-in must create nothing"
    outcome, details = audit_details(services)[-1]
    assert outcome == "failure" and details["problem"] == problem, details
    assert details["provider"]


def test_a_valid_id_token_signs_in(web, rp, ops, services):
    done, verifier = sign_in(web, rp)
    claims = id_token_claims(web, rp, done, verifier)
    assert claims["amr"] == ["pwd"] and claims["email"] == "pat@mini.example.org"


@pytest.mark.parametrize("problem, tamper", [
    ("wrong_nonce", {"claims": {"nonce": "not-the-nonce-we-sent"}}),
    ("wrong_nonce", {"drop": {"nonce"}}),
    ("wrong_issuer", {"claims": {"iss": "https://login.evil.example.com"}}),
    ("wrong_audience", {"claims": {"aud": "another-application"}}),
    ("wrong_audience", {"claims": {"aud": ["mini-client", "another-application"]}}),   # and no azp
    ("expired", {"claims": {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}}),
    ("bad_signature", {"sign_with": rsa_key("mini-1")}),          # the published kid, another key
    ("unknown_kid", {"kid": "never-published"}),
], ids=["wrong-nonce", "missing-nonce", "wrong-issuer", "wrong-audience", "extra-audience-no-azp", "expired",
        "bad-signature", "unknown-kid"])
def test_a_bad_id_token_is_refused(web, rp, ops, services, problem, tamper):
    for key, value in tamper.items():
        setattr(ops["mini"], key, value)
    before = counts(services)
    page, _ = sign_in(web, rp)
    assert_refused(services, before, page, problem, "could not be verified")


def test_an_unknown_kid_fetches_the_keys_again_once(browsers, rp, ops, services, frozen_clock):
    op = ops["mini"]
    first = browsers(op.url)
    id_token_claims(first, rp, *sign_in(first, rp))
    assert op.jwks_requests == 1
    op.rotate()                                            # new key, the old one is no longer published
    again = browsers(op.url)
    id_token_claims(again, rp, *sign_in(again, rp))
    assert op.jwks_requests == 2
    frozen_clock.advance(seconds=61)                       # (at most one refetch a minute: see below)
    op.kid = "never-published"
    before = counts(services)
    page, _ = sign_in(browsers(op.url), rp)
    assert_refused(services, before, page, "unknown_kid", "could not be verified")
    assert op.jwks_requests == 3                           # fetched again exactly once, then refused


def test_access_denied_at_the_provider(web, rp, ops, services):
    ops["mini"].error = "access_denied"
    before = counts(services)
    page, _ = sign_in(web, rp)
    assert_refused(services, before, page, "access_denied", "did not sign you in")


def assert_unreachable(services, before: dict, page, provider: str, problem: str, words: str) -> None:  # noqa: ANN001
    """Our page (not the browser's "This site can't be reached"), 503, nothing created, audited; the
    sign-in stays, with the button to try again."""
    assert page.status == 503 and page.location is None, (page.status, page.location, page.text[:1500])
    assert words in page.text and f"Continue to {provider.title()}" in page.text, page.text[:1500]
    assert counts(services) == before
    outcome, details = audit_details(services)[-1]
    assert outcome == "failure" and details["problem"] == problem and details["provider"] == provider, details


def test_a_provider_that_is_down(web, rp, services):
    before = counts(services)
    page, _ = sign_in(web, rp, "down")
    assert_unreachable(services, before, page, "down", "upstream_unreachable", "Down cannot be reached right now")


def test_a_provider_that_does_not_answer_times_out(web, rp, services):
    before = counts(services)
    started = time.monotonic()
    page, _ = sign_in(web, rp, "slow")
    assert time.monotonic() - started < 5
    assert_unreachable(services, before, page, "slow", "upstream_timeout", "Slow did not answer in time")


def test_a_provider_that_went_down_after_a_sign_in_gets_our_page(browsers, rp, fragile, services):
    op, stop = fragile
    first = browsers(op.url)
    id_token_claims(first, rp, *sign_in(first, rp, "fragile"))   # this worker now has its discovery document
    stop.close()
    web = browsers()                                              # would stop at the provider, were it sent there
    for _ in range(2):                                            # the second press is answered from the cache
        before = counts(services)
        started = time.monotonic()
        page = choose(web, authorize(web, rp).page, "fragile")
        assert_unreachable(services, before, page, "fragile", "upstream_unreachable",
                           "Fragile cannot be reached right now")
    assert time.monotonic() - started < 1


def test_a_provider_that_stops_answering_before_the_code_is_redeemed(web, rp, fragile, services):
    op, stop = fragile
    started = authorize(web, rp)
    page = choose(web, started.page, "fragile")
    assert page.location.startswith(op.url + "/authorize")      # this browser stops at the provider
    answer = httpx.get(page.location, follow_redirects=False).headers["location"]
    stop.close()
    before = counts(services)
    page = web.open(answer)
    assert_refused(services, before, page, "upstream_unreachable", "cannot be reached right now")


def test_an_answer_for_another_sign_in_is_refused(browsers, rp, ops, services):
    web = browsers()                                            # stops at the provider's /authorize
    started = authorize(web, rp)
    page = choose(web, started.page, "mini")
    answer = httpx.get(page.location, follow_redirects=False).headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(answer).query).items()}
    forged = f"{callback_url(web.base)}?{urlencode({**query, 'state': 'someone-elses-state'})}"
    before = counts(services)
    page = web.open(forged)
    assert_refused(services, before, page, "wrong_state", "does not belong to this sign-in")


def test_a_replayed_answer_is_refused(web, rp, ops, services):
    done, verifier = sign_in(web, rp)
    id_token_claims(web, rp, done, verifier)
    answer = next(url for url in web.visited if "/federation/callback" in url)
    before = counts(services)
    page = web.open(answer)
    assert page.status == 400 and "no sign-in in progress" in page.text
    assert counts(services) == before
    assert audit_details(services)[-1][0] == "failure"


# --------------------------------------------------------------------------- Entra ID multi-tenant

def test_multi_tenant_issuer_is_checked_against_the_tokens_tid(web, rp, ops, services):
    done, verifier = sign_in(web, rp, "entra")
    assert id_token_claims(web, rp, done, verifier)["email"] == "pat@entra.example.org"
    assert audit_details(services)[-1][1]["tenant"] == "tenant-1"


def test_multi_tenant_refuses_a_tenant_not_allowed(web, rp, ops, services):
    ops["entra"].tenant = "tenant-2"
    before = counts(services)
    page, _ = sign_in(web, rp, "entra")
    assert_refused(services, before, page, "tenant_not_allowed", "tenant-2")


def test_multi_tenant_refuses_an_issuer_of_another_tenant(web, rp, ops, services):
    op = ops["entra"]
    op.claims = {"iss": ENTRA_TEMPLATE.format(url=op.url, tenantid="tenant-3")}   # tid says tenant-1
    before = counts(services)
    page, _ = sign_in(web, rp, "entra")
    assert_refused(services, before, page, "wrong_issuer", "could not be verified")


def test_a_discovery_document_naming_another_issuer_is_refused(web, rp, services):
    before = counts(services)
    page, _ = sign_in(web, rp, "entra-single")
    assert_refused(services, before, page, "wrong_issuer", "not set up correctly")


def test_coming_back_before_the_provider_answered_offers_to_continue(browsers, rp, ops, services):
    web = browsers()                                            # stops at the provider's /authorize
    started = authorize(web, rp)
    first = choose(web, started.page, "mini").location
    page = web.open("/login")                                   # the back button, or a bookmark
    assert page.status == 200 and "Continue to Mini" in page.text and "Sign in with Entra" not in page.text
    again = choose(web, page, "mini").location                  # starts afresh: a new state and nonce
    assert again.startswith(ops["mini"].url) and parse_qs(urlsplit(again).query)["state"] != \
        parse_qs(urlsplit(first).query)["state"]
    stale = httpx.get(first, follow_redirects=False).headers["location"]
    before = counts(services)
    assert_refused(services, before, web.open(stale), "wrong_state", "does not belong to this sign-in")


# --------------------------------------------------------------------------- claims and accounts

def test_max_age_needs_a_fresh_sign_in_at_the_provider(web, rp, ops, services):
    ops["mini"].claims = {"auth_time": int(time.time()) - 3600}     # signed in there an hour ago
    started = authorize(web, rp, max_age="0")
    before = counts(services)
    page = choose(web, started.page, "mini")
    assert page.status == 403 and "did not ask you to sign in again" in page.text
    assert counts(services) == before and audit_details(services)[-1][1]["problem"] == "not_reauthenticated"


@pytest.mark.parametrize("asked", [{"prompt": "login"}, {"max_age": "300"}], ids=["prompt-login", "max-age"])
def test_a_fresh_sign_in_needs_auth_time_in_the_id_token(web, rp, ops, services, asked):
    ops["mini"].drop = {"auth_time"}
    started = authorize(web, rp, **asked)
    before = counts(services)
    page = choose(web, started.page, "mini")
    assert page.status == 403 and "did not ask you to sign in again" in page.text, page.text[:1500]
    assert counts(services) == before and audit_details(services)[-1][1]["problem"] == "missing_auth_time"


@pytest.mark.parametrize("ago, accepted", [(30, True), (100, True), (130, False)])
def test_max_age_allows_auth_time_within_it_and_a_minute_of_clock_skew(browsers, rp, ops, services, ago, accepted):
    ops["mini"].claims = {"auth_time": int(time.time()) - ago}
    web = browsers(ops["mini"].url)
    started = authorize(web, rp, max_age="60")
    page = choose(web, started.page, "mini")
    if accepted:
        assert id_token_claims(web, rp, page, started.verifier)["email"] == "pat@mini.example.org"
    else:
        assert page.status == 403 and audit_details(services)[-1][1]["problem"] == "not_reauthenticated"


def test_an_auth_time_in_the_future_is_refused(web, rp, ops, services):
    ops["mini"].claims = {"auth_time": int(time.time()) + 3600}
    started = authorize(web, rp, prompt="login")
    before = counts(services)
    assert_refused(services, before, choose(web, started.page, "mini"), "invalid_claims", "could not be verified")


def test_unknown_kids_fetch_the_keys_at_most_once_a_minute_for_the_fleet(browsers, rp, ops, services, frozen_clock):
    from idp.federation.discovery import DIRECTORY
    from idp.models import UpstreamKeySet

    op = ops["mini"]
    id_token_claims(first := browsers(op.url), rp, *sign_in(first, rp))
    assert op.jwks_requests == 1
    op.kid = "never-published"

    def refused() -> None:
        before = counts(services)
        page, _ = sign_in(browsers(op.url), rp)
        assert_refused(services, before, page, "unknown_kid", "could not be verified")

    for _ in range(4):
        refused()
    assert op.jwks_requests == 2                       # four tokens, one fetch
    frozen_clock.advance(seconds=61)
    refused()
    refused()
    assert op.jwks_requests == 3                       # a minute later: one more
    DIRECTORY.clear()                                  # another worker (its own cache, the same database)
    frozen_clock.advance(seconds=10)
    refused()
    assert op.jwks_requests == 4                       # its first fetch, but no refetch: the fleet did one 10 s ago
    op.rotate()
    op.kid = None
    with services.database.session() as db:           # what another worker fetched after the rotation
        db.get(UpstreamKeySet, "mini").keys = {"keys": [op.key.as_dict(private=False)]}
    id_token_claims(again := browsers(op.url), rp, *sign_in(again, rp))
    assert op.jwks_requests == 4                       # the new key came from the database


def test_groups_follow_the_provider_at_each_sign_in(browsers, rp, ops, services):
    from tests.support.factors import user_row

    op = ops["mini"]
    op.claims = {"groups": ["ops", "finance"]}
    id_token_claims(first := browsers(op.url), rp, *sign_in(first, rp))
    assert user_row(services, "pat@mini.example.org").group_names == {"ops", "finance"}
    op.claims = {"groups": ["ops"]}
    id_token_claims(again := browsers(op.url), rp, *sign_in(again, rp))
    assert user_row(services, "pat@mini.example.org").group_names == {"ops"}


def test_the_providers_address_is_normalised_and_look_alikes_get_no_account(browsers, rp, ops, services):
    op = ops["mini"]
    op.email = "\uff30AT@Mini.Example.ORG"                        # full-width Ｐ, capitals
    id_token_claims(first := browsers(op.url), rp, *sign_in(first, rp))
    with services.database.session() as db:
        from idp.models import User
        assert db.scalars(sa.select(User.email)).all().count("pat@mini.example.org") == 1
    op.subject, op.email = "mini-user-2", "p\u0430t@mini.example.org"   # Cyrillic а: a look-alike of pat@
    before = counts(services)
    page, _ = sign_in(browsers(op.url), rp)
    assert page.status == 403 and "mixes Cyrillic and Latin letters" in page.text, page.text[:1500]
    assert counts(services) == before and audit_details(services)[-1][1]["problem"] == "account_refused"


def test_no_email_no_account(web, rp, ops, services):
    ops["mini"].drop = {"email"}
    before = counts(services)
    page, _ = sign_in(web, rp)
    assert_refused(services, before, page, "no_email", "did not send your email address")


def test_a_disabled_account_cannot_sign_in_through_the_provider(browsers, rp, ops, services):
    import sqlalchemy as sa

    from idp.models import User

    id_token_claims(first := browsers(ops["mini"].url), rp, *sign_in(first, rp))
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == "pat@mini.example.org")).is_active = False
    before = counts(services)
    page, _ = sign_in(browsers(ops["mini"].url), rp)
    assert_refused(services, before, page, "account_disabled", "Your account here is disabled")
