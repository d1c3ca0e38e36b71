"""Provisioning and single sign-on together, over real HTTP with an upstream IdP (tests/federation's
fixtures): a provisioned person signs in through SSO into the same account; a person who already signed in
through SSO is matched when the platform provisions them; a deactivated person cannot sign in any more."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.models import User
from tests.federation.conftest import (  # noqa: F401
    acme,
    browsers,
    fresh_directory,
    idp,
    issuer,
    provider_entry,
    reserved,
    rp,
    upstream,
    web,
)
from tests.federation.helpers import audit_details, authorize, choose, counts, id_token_claims
from tests.federation.test_federation_accounts import through, upstream_subject, verify_upstream_email

from .conftest import Scim, make_token, user_body


@pytest.fixture
def config_overrides(upstream) -> dict:  # noqa: ANN001, F811
    return {"providers": [provider_entry(upstream, "up-link", "upstream", domains=["link.example.com"],
                                         link_existing_by_email=True)]}


@pytest.fixture
def acme_scim(client, services, acme) -> Scim:  # noqa: ANN001, F811
    return Scim(client, make_token(services, "acme", "Okta"))


def _users(services, email: str) -> list[User]:  # noqa: ANN001
    with services.database.session() as db:
        found = list(db.scalars(sa.select(User).where(User.email == email)))
        db.expunge_all()
        return found


def test_a_provisioned_person_signs_in_through_sso_into_the_same_account(web, rp, upstream, services, acme_scim):  # noqa: F811
    created = acme_scim.post("/Users", user_body("lee@link.example.com", external_id="00u-lee"))
    assert created.status_code == 201, created.json
    upstream.user("lee@link.example.com")
    verify_upstream_email(upstream, "lee@link.example.com")

    done, verifier = through(web, rp, "up-link", "lee@link.example.com")
    assert id_token_claims(web, rp, done, verifier)["sub"] == created.json["id"]
    assert [u.subject for u in _users(services, "lee@link.example.com")] == [created.json["id"]]
    assert audit_details(services)[-1][1]["account"] == "linked"

    # deactivated by the platform: the next SSO sign-in is refused and changes nothing
    off = acme_scim.patch(f"/Users/{created.json['id']}", {"op": "replace", "path": "active", "value": False})
    assert off.status_code == 200
    before = counts(services)
    page = choose(web, authorize(web, rp).page, "up-link")   # still signed in upstream: straight back here
    assert page.status == 403 and "Your account here is disabled" in page.text
    assert counts(services) == before


def test_a_person_who_signed_in_through_sso_is_matched_by_external_id(web, rp, upstream, services, acme_scim):  # noqa: F811
    upstream.user("kim@link.example.com")
    verify_upstream_email(upstream, "kim@link.example.com")
    done, verifier = through(web, rp, "up-link", "kim@link.example.com")
    sub = id_token_claims(web, rp, done, verifier)["sub"]

    # the platform knows the person by its own id, and provisions a new address for them
    reply = acme_scim.post("/Users", user_body("kim.new@link.example.com",
                                               external_id=upstream_subject(upstream, "kim@link.example.com")))
    assert reply.status_code == 201, reply.json
    assert reply.json["id"] == sub
    assert _users(services, "kim@link.example.com") == []
    assert [u.subject for u in _users(services, "kim.new@link.example.com")] == [sub]
