"""Security review F-09 (fixed): an organisation administrator can route to their own identity provider only
email domains the operator registered to that organisation (`idp org create --domain`); domains that other
organisations' people use (or shared ones such as gmail.com) are refused. Home-realm discovery also never
sends an existing account to another organisation's provider."""
from __future__ import annotations

import sqlalchemy as sa

from idp.audit import Actor
from idp.federation import manage
from idp.models import Organisation
from tests.support.factory import PASSWORD


def test_admin_cannot_route_domain_used_by_another_organisations_users(browser, factory, services):
    factory.org("acme", domains=("acme.example.com",))
    factory.org("globex")                                   # Globex never registered an email domain
    factory.user("bob@globex-mail.example", org="globex")
    values = manage.values_from_form({
        "name": "acme-idp", "display_name": "Sign in", "issuer": "https://idp.acme.example.com",
        "client_id": "x", "client_secret": "y", "domains": "globex-mail.example", "claim_email": "email",
        "second_factor": "upstream", "sso_only": "yes", "enabled": "yes"})
    created = True
    with services.database.session() as db:                 # what the ACME admin's form post does
        acme = db.scalar(sa.select(Organisation).where(Organisation.slug == "acme"))
        try:
            manage.create(db, services, acme, values, Actor("user:admin@acme.example.com"))
        except manage.ProviderProblems:
            created = False
    page = browser.sign_in(browser.open("/account/security"), "bob@globex-mail.example", PASSWORD)
    sent_away = "/login/federate" in (page.url + (page.location or ""))
    # The secure behaviour: another tenant's users' domain cannot be claimed; Bob's password keeps working.
    assert not created and not sent_away, f"provider created={created}; Bob sent to ACME's IdP={sent_away}"
