"""`idp org create|list`: the customer organisations of this deployment."""
from __future__ import annotations

import re

import click
import sqlalchemy as sa

from idp import audit
from idp.clock import now
from idp.models import Organisation, OrganisationDomain

from .base import CliState, actor, cli, pass_state

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@cli.group("org")
def org_group() -> None:
    """Organisations (Fentu FSM's customers)."""


@org_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name.")
@click.option("--domain", "domains", multiple=True, help="Email domain owned by the organisation (repeatable).")
@pass_state
def create(state: CliState, slug: str, name: str, domains: tuple[str, ...]) -> None:
    """Add an organisation SLUG."""
    if not SLUG.match(slug):
        raise click.BadParameter("use lower-case letters, digits and '-' (at most 63)", param_hint="SLUG")
    cleaned = [d.strip().lower() for d in domains]
    for domain in cleaned:
        if not DOMAIN.match(domain):
            raise click.BadParameter(f"{domain!r} is not a domain name", param_hint="--domain")
    with state.session() as db:
        if db.scalar(sa.select(Organisation.id).where(Organisation.slug == slug)):
            raise click.UsageError(f"organisation {slug!r} already exists")
        taken = db.scalars(sa.select(OrganisationDomain.domain).where(OrganisationDomain.domain.in_(cleaned))).all()
        if taken:
            raise click.UsageError(f"domain {taken[0]} already belongs to another organisation")
        org = Organisation(slug=slug, name=name, created_at=now(), allowed_methods=[], exempt_groups=[],
                           domains=[OrganisationDomain(domain=d) for d in cleaned])
        db.add(org)
        db.flush()
        audit.record(db, "organisation_created", actor(), organisation_id=org.id, target=slug,
                     details={"name": name, "domains": cleaned})
    click.echo(f"Created organisation {slug}.")


@org_group.command("list")
@pass_state
def list_(state: CliState) -> None:
    """Show every organisation."""
    with state.session() as db:
        for org in db.scalars(sa.select(Organisation).order_by(Organisation.slug)):
            domains = ", ".join(d.domain for d in org.domains) or "-"
            click.echo(f"{org.slug}\t{org.name}\t{domains}")
