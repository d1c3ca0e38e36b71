"""Accounts from federated sign-ins (provisioning, linking, refusals) and the sign-in page's routing
(one button per provider, home-realm discovery by email domain, SSO-only domains), against the real
upstream IdP instance."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.models import User
from tests.federation.conftest import provider_entry
from tests.federation.helpers import (audit_details, authorize, choose, counts, id_token_claims, identity_of,
                                      upstream_password)
from tests.support.factory import PASSWORD


@pytest.fixture
def providers(upstream) -> list[dict]:  # noqa: ANN001
    return [provider_entry(upstream, "up-sso", "upstream", domains=["sso.example.com"], sso_only=True),
            provider_entry(upstream, "up-link", "upstream", domains=["link.example.com"],
                           link_existing_by_email=True),
            provider_entry(upstream, "up-plain", "upstream", domains=["plain.example.com"])]


def verify_upstream_email(upstream, email: str) -> None:  # noqa: ANN001
    """The upstream says email_verified=true for this person."""
    with upstream.services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == email)).email_verified = True


def local_user(services, email: str) -> User:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            _ = user.organisation.slug, user.group_names
        db.expunge_all()
        return user


def upstream_subject(upstream, email: str) -> str:  # noqa: ANN001
    with upstream.services.database.session() as db:
        return db.scalar(sa.select(User.subject).where(User.email == email))


def through(web, rp, provider: str, email: str):  # noqa: ANN001, ANN201
    started = authorize(web, rp)
    return upstream_password(web, choose(web, started.page, provider), email), started.verifier


def refused(services, before: dict, page, problem: str, *words: str) -> None:  # noqa: ANN001
    assert page.status == 403 and page.location is None, (page.status, page.text[:2000])
    for word in words:
        assert word in page.text, page.text[:2000]
    assert counts(services) == before, "a refused sign-in must create nothing"
    outcome, details = audit_details(services)[-1]
    assert outcome == "failure" and details["problem"] == problem, details


# --------------------------------------------------------------------------- provisioning

def test_first_sign_in_creates_an_account_in_the_providers_organisation(browsers, rp, upstream, services):
    upstream.user("pat@plain.example.com", name="Pat Plain")
    web = browsers(upstream.url)
    done, verifier = through(web, rp, "up-plain", "pat@plain.example.com")
    sub = id_token_claims(web, rp, done, verifier)["sub"]
    user = local_user(services, "pat@plain.example.com")
    assert user.organisation.slug == "acme" and user.name == "Pat Plain" and user.password_hash is None
    assert user.subject == sub
    upstream_sub = upstream_subject(upstream, "pat@plain.example.com")
    assert identity_of(services, "pat@plain.example.com") == [("up-plain", upstream_sub)]
    assert audit_details(services)[-1][1]["account"] == "created"
    before = counts(services)
    again = browsers(upstream.url)
    done, verifier = through(again, rp, "up-plain", "pat@plain.example.com")
    assert id_token_claims(again, rp, done, verifier)["sub"] == sub       # the same account, found by its link
    assert counts(services)["users"] == before["users"] and audit_details(services)[-1][1]["account"] == "existing"


def test_no_account_is_created_for_an_address_of_another_organisations_domain(web, rp, upstream, services, factory):
    factory.org("globex", domains=("globex.example.com",))
    upstream.user("spy@globex.example.com")
    before = counts(services)
    page, _ = through(web, rp, "up-plain", "spy@globex.example.com")
    refused(services, before, page, "foreign_domain", "belongs to another organisation", "No account was created")


# --------------------------------------------------------------------------- linking

def test_links_an_existing_account_when_allowed_and_the_email_is_verified(web, rp, upstream, services, factory):
    user_id = factory.user("lee@link.example.com", org="acme")
    upstream.user("lee@link.example.com")
    verify_upstream_email(upstream, "lee@link.example.com")
    before = counts(services)
    done, verifier = through(web, rp, "up-link", "lee@link.example.com")
    id_token_claims(web, rp, done, verifier)
    assert local_user(services, "lee@link.example.com").id == user_id
    assert counts(services)["users"] == before["users"]
    upstream_sub = upstream_subject(upstream, "lee@link.example.com")
    assert identity_of(services, "lee@link.example.com") == [("up-link", upstream_sub)]
    assert audit_details(services)[-1][1]["account"] == "linked"


def test_no_link_when_the_upstream_email_is_not_verified(web, rp, upstream, services, factory):
    factory.user("lee@link.example.com", org="acme")
    upstream.user("lee@link.example.com")            # email_verified false upstream: could be anyone's address
    before = counts(services)
    page, _ = through(web, rp, "up-link", "lee@link.example.com")
    refused(services, before, page, "email_not_verified", "already exists", "Sign in with your password")


def test_no_link_when_the_provider_does_not_allow_it(web, rp, upstream, services, factory):
    factory.user("kim@plain.example.com", org="acme")
    upstream.user("kim@plain.example.com")
    verify_upstream_email(upstream, "kim@plain.example.com")
    before = counts(services)
    page, _ = through(web, rp, "up-plain", "kim@plain.example.com")
    refused(services, before, page, "link_not_allowed", "already exists")


def test_no_link_to_an_account_of_another_organisation(web, rp, upstream, services, factory):
    factory.user("boss@example.com")                 # organisation "default", not the provider's
    upstream.user("boss@example.com")
    verify_upstream_email(upstream, "boss@example.com")
    before = counts(services)
    page, _ = through(web, rp, "up-link", "boss@example.com")
    refused(services, before, page, "other_organisation", "already exists")


# --------------------------------------------------------------------------- the sign-in page

def test_the_sign_in_page_offers_every_provider(web, rp):
    page = authorize(web, rp).page
    for name in ("up-sso", "up-link", "up-plain"):
        assert f"Sign in with Upstream {name}" in page.text


def test_home_realm_discovery_sends_the_person_to_their_provider(web, rp, upstream):
    upstream.user("pat@plain.example.com")
    started = authorize(web, rp)
    page = web.submit(started.page, "password", {"email": "pat@plain.example.com", "password": ""})
    assert page.status == 200 and "Continue to Upstream up-plain" in page.text, page.text[:2000]
    page = choose(web, page, "up-plain")
    assert page.url.startswith(upstream.url) and 'name="password"' in page.text
    done = upstream_password(web, page, "pat@plain.example.com")
    assert done.location.startswith(rp.redirect_uri)


def test_a_password_still_works_where_the_domain_is_not_sso_only(web, rp, factory):
    factory.user("kim@plain.example.com", org="acme")
    started = authorize(web, rp)
    done = web.sign_in(started.page, "kim@plain.example.com", PASSWORD)
    assert id_token_claims(web, rp, done, started.verifier)["amr"] == ["pwd"]


def test_sso_only_domains_cannot_use_a_password(web, rp, factory, services):
    factory.user("old@sso.example.com", org="acme")   # had a password before the domain became SSO-only
    before = counts(services)
    started = authorize(web, rp)
    page = web.sign_in(started.page, "old@sso.example.com", PASSWORD)
    assert page.status == 200 and page.location is None
    assert "Your organisation signs you in through Upstream up-sso" in page.text
    assert counts(services) == before
