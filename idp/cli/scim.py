"""`idp scim token create|list|revoke`: an organisation's SCIM provisioning tokens (shown once, stored as a digest)."""
from __future__ import annotations

import click

from idp.clock import now
from idp.provisioning import tokens

from .base import CliState, actor, cli, pass_state
from .users import organisation


@cli.group("scim")
def scim_group() -> None:
    """SCIM 2.0 provisioning (Entra ID, Okta) at /scim/v2."""


@scim_group.group("token")
def token_group() -> None:
    """Provisioning tokens of one organisation."""


@token_group.command("create")
@click.option("--org", "org_slug", help="The organisation (default: the only one).")
@click.option("--name", required=True, help='What the token is for, e.g. "Entra ID"; audited as scim:<name>.')
@pass_state
def create(state: CliState, org_slug: str | None, name: str) -> None:
    """Create a token; it is printed now and never again."""
    with state.session() as db:
        org = organisation(db, org_slug)
        try:
            row, token = tokens.create(db, org.id, name, actor(), now=now())
        except tokens.TokenError as exc:
            raise click.BadParameter(str(exc), param_hint="--name") from None
        base = state.config.issuer.rstrip("/") + "/scim/v2"
    click.echo(f"id:       {row.id}")
    click.echo(f"base URL: {base}")
    click.echo(f"token:    {token}")
    click.echo("The token is shown only now; paste it into the identity platform's provisioning settings.")


@token_group.command("list")
@click.option("--org", "org_slug", help="The organisation (default: the only one).")
@pass_state
def list_(state: CliState, org_slug: str | None) -> None:
    """Show the tokens: id, name, created, last used, status."""
    with state.session() as db:
        org = organisation(db, org_slug)
        for row in tokens.listing(db, org.id):
            used = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "never"
            status = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            click.echo(f"{row.id}\t{row.name}\tcreated {row.created_at:%Y-%m-%d %H:%M} by {row.created_by}\t"
                       f"last used {used}\t{status}")


@token_group.command("revoke")
@click.option("--org", "org_slug", help="The organisation (default: the only one).")
@click.argument("token_id")
@pass_state
def revoke(state: CliState, org_slug: str | None, token_id: str) -> None:
    """Revoke the token with this id (see `list`); it stops working at once."""
    with state.session() as db:
        org = organisation(db, org_slug)
        try:
            revoked = tokens.revoke(db, org.id, token_id, actor(), now=now())
        except tokens.TokenError as exc:
            raise click.BadParameter(str(exc), param_hint="TOKEN_ID") from None
    click.echo(f"Token {token_id} revoked." if revoked else f"Token {token_id} was already revoked.")
