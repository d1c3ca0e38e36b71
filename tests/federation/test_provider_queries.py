"""The sign-in page lists every enabled provider (config file and administrators' ones) in a fixed number of
queries, however many organisations have one (each organisation's provider used to load its organisation
in a query of its own)."""
from __future__ import annotations

from idp.clock import now
from idp.models import Organisation, UpstreamProvider
from tests.support.browser import Browser
from tests.support.statements import recorded


def _add_providers(services, factory, count: int, start: int = 0) -> None:  # noqa: ANN001
    for i in range(start, start + count):
        org_id = factory.org(f"tenant{i}")
        with services.database.session() as db:
            db.add(UpstreamProvider(organisation_id=org_id, name=f"tenant{i}-entra", display_name=f"Tenant {i}",
                                    issuer=f"https://login.example.com/tenant{i}/v2.0", client_id=f"client-{i}",
                                    created_at=now(), updated_at=now()))


def _sign_in_page(app, services) -> tuple[str, int, int]:  # noqa: ANN001
    """The page's text, its statements other than reads of organisations, and those reads."""
    browser = Browser(client=app.test_client())
    with recorded(services.database.engine) as statements:
        page = browser.open("/login/restart")
    organisation_reads = [s for s in statements if "FROM organisation" in " ".join(s.split())
                          and "upstream_provider" not in s]
    return page.text, len(statements) - len(organisation_reads), len(organisation_reads)


def test_the_sign_in_page_reads_the_providers_in_one_query_however_many_organisations(app, services, factory):
    _add_providers(services, factory, 1)
    _, one_other, one_org_reads = _sign_in_page(app, services)
    _add_providers(services, factory, 3, start=1)
    text, many_other, many_org_reads = _sign_in_page(app, services)
    assert "Tenant 0" in text and "Tenant 3" in text
    assert many_org_reads == one_org_reads and many_other == one_other


def test_a_provider_knows_its_organisation(services, factory):
    from idp.federation import providers

    _add_providers(services, factory, 2)
    with services.database.session() as db:
        listed = {p.name: p.organisation for p in providers.managed(db)}
        assert listed == {"tenant0-entra": "tenant0", "tenant1-entra": "tenant1"}
        assert {o.slug for o in db.query(Organisation)} >= {"tenant0", "tenant1"}
