"""`idp provider list|check`: the upstream identity providers people sign in through (single sign-on)."""
from __future__ import annotations

import click

from idp import accounts, audit
from idp.federation import providers
from idp.federation.check import check_provider
from idp.federation.scenarios import scenario_of

from .base import CliState, actor, cli, pass_state


@cli.group("provider")
def provider_group() -> None:
    """Upstream identity providers (Entra ID, Okta, any OpenID provider)."""


@provider_group.command("list")
@pass_state
def list_(state: CliState) -> None:
    """Show every provider: where it is defined, its organisation, domains and 2FA scenario."""
    with state.session() as db:
        every = providers.all_providers(db, state.config)
    if not every:
        click.echo("No providers. Add [[providers]] to the config file, or use Administration > Settings > "
                   "Single Sign-On.")
        return
    for p in every:
        scenario = scenario_of(p)
        flags = [f for f, on in (("sso-only", p.sso_only), ("multi-tenant", p.multi_tenant),
                                 ("disabled", not p.enabled)) if on]
        click.echo("\t".join([p.name, p.display_name, p.organisation, p.source, p.issuer,
                              ", ".join(p.domains) or "-", f"{scenario.key} ({scenario.label})",
                              ", ".join(flags) or "-"]))


@provider_group.command("check")
@click.argument("name")
@pass_state
def check(state: CliState, name: str) -> None:
    """Check provider NAME now: organisation, domains, discovery, keys, client credentials. Exit 1 on a problem."""
    with state.session() as db:
        provider = providers.find(db, state.config, name)
        if provider is None:
            known = ", ".join(p.name for p in providers.all_providers(db, state.config)) or "none"
            raise click.UsageError(f"no enabled provider named {name!r} (known: {known})")
        report = check_provider(db, state.services, provider)
        org = accounts.organisation_by_slug(db, provider.organisation)
        problems = [line.what for line in report.lines if not line.ok]
        audit.record(db, "sso_provider_checked", actor(), organisation_id=org.id if org else None,
                     target=provider.name, outcome="failure" if problems else "success",
                     details={"provider": provider.name, "problems": problems})
    for line in report.lines:
        click.echo(str(line))
    if not report.ok:
        raise click.exceptions.Exit(1)
    click.echo(f"{provider.display_name} is ready for sign-in.")

