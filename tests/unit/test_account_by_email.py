"""idp.accounts.find_by_email: the account, its organisation and that organisation's branding in one statement
(the page after the password shows the branding without a query of its own)."""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from idp import accounts
from idp.models import Organisation, OrganisationBranding
from tests.web.test_signin_queries import counted

EMAIL = "alice@example.com"


def test_the_account_comes_with_its_organisation_and_branding_in_one_statement(factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    with services.database.session() as db:
        organisation = db.scalar(sa.select(Organisation))
        db.add(OrganisationBranding(organisation_id=organisation.id, display_name="Acme Field Service",
                                    logo_png=b"\x89PNG", logo_digest="d" * 64, updated_at=datetime.now(UTC)))
    with services.database.session() as db, counted(services) as statements:
        user = accounts.find_by_email(db, " Alice@Example.com ")
        assert user.email == EMAIL
        assert user.organisation.branding.display_name == "Acme Field Service"
        assert len(statements) == 1
        assert user.organisation.branding.logo_png == b"\x89PNG"     # the logo's bytes only when asked for


def test_an_organisation_without_branding_is_known_to_have_none(factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    with services.database.session() as db, counted(services) as statements:
        user = accounts.find_by_email(db, EMAIL)
        assert user.organisation.branding is None
        assert len(statements) == 1


def test_an_unknown_address_costs_the_same_one_statement(factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    with services.database.session() as db, counted(services) as statements:
        assert accounts.find_by_email(db, "bob@example.com") is None
        assert len(statements) == 1
