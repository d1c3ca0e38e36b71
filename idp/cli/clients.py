"""`idp client create|list|grant|revoke`: relying parties (the secret is printed once and stored as a digest)
and the administration API scopes granted to them."""
from __future__ import annotations

import json

import click
import sqlalchemy as sa

from idp import audit
from idp.adminapi import grants, scopes
from idp.administration.permissions import AdminError, operator_scope
from idp.clients import ClientError, register_client
from idp.clock import now
from idp.models import Client

from .base import CliState, actor, cli, pass_state
from .users import organisation


@cli.group("client")
def client_group() -> None:
    """OpenID Connect clients (relying parties)."""


@client_group.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Exact redirect URI (repeatable; required unless the client is for the API only).")
@click.option("--public", is_flag=True, help="A public client (SPA, mobile): no secret, PKCE required.")
@click.option("--no-require-pkce", is_flag=True, help="Let a confidential client omit PKCE (older RPs).")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option("--backchannel-logout-uri", help="Where to POST a Logout Token when a user's session ends "
              "(OpenID Connect Back-Channel Logout; https, or http on a loopback host).")
@click.option("--backchannel-logout-session-required", is_flag=True,
              help="The application needs the session id (sid) in Logout Tokens (always sent).")
@click.option("--consent", is_flag=True, help="Ask users to approve the requested scopes once.")
@click.option("--refresh-tokens", is_flag=True, help="Issue refresh tokens without offline_access.")
@click.option("--org", "org_slug", help="Only this organisation's users may sign in to it "
              "(default: a deployment-wide client, such as Fentu FSM itself, open to every organisation).")
@click.option("--api-scope", "api_scopes", multiple=True, help=f"Grant an administration API scope (repeatable; "
              f"needs --org): {', '.join(scopes.NAMES)}.")
@click.option("--json", "as_json", is_flag=True, help="Print client_id and secret as JSON.")
@pass_state
def create(state: CliState, name: str, redirect_uris: tuple[str, ...], public: bool, no_require_pkce: bool,
           logout_uris: tuple[str, ...], consent: bool, refresh_tokens: bool, org_slug: str | None,
           api_scopes: tuple[str, ...], as_json: bool, backchannel_logout_uri: str | None = None,
           backchannel_logout_session_required: bool = False) -> None:
    """Register a client; its secret is shown now and never again."""
    _check_api_scopes(api_scopes, org_slug)
    with state.session() as db:
        org = organisation(db, org_slug) if org_slug else None
        try:
            client, secret = register_client(
                db, name=name, redirect_uris=list(redirect_uris), logout_uris=list(logout_uris), public=public,
                require_pkce=not no_require_pkce, require_consent=consent, refresh_tokens=refresh_tokens,
                organisation_id=org.id if org else None, development=state.config.development,
                backchannel_logout_uri=backchannel_logout_uri,
                backchannel_logout_session_required=backchannel_logout_session_required, api_only=bool(api_scopes))
        except ClientError as exc:
            raise click.UsageError(str(exc)) from None
        audit.record(db, "client_created", actor(), organisation_id=org.id if org else None, target=client.client_id,
                     details={"name": name, "redirect_uris": list(redirect_uris), "public": public,
                              **({"backchannel_logout_uri": backchannel_logout_uri}
                                 if backchannel_logout_uri else {})})
        if api_scopes:
            _change_scopes(db, client, grants.grant, api_scopes)
    if as_json:
        click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))
        return
    click.echo(f"client_id:     {client.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}")
        click.echo("The secret is shown only now; store it in the application's configuration.")


@client_group.command("list")
@pass_state
def list_(state: CliState) -> None:
    """Show registered clients."""
    with state.session() as db:
        for c in db.scalars(sa.select(Client).order_by(Client.name)):
            kind = "public" if c.is_public else "confidential"
            click.echo(f"{c.client_id}\t{c.name}\t{kind}\t{' '.join(c.redirect_uris)}\t{' '.join(sorted(c.api_scopes))}")


def _check_api_scopes(names: tuple[str, ...], org_slug: str | None) -> None:
    if not names:
        return
    try:
        scopes.checked(names)
    except scopes.ScopeError as exc:
        raise click.BadParameter(str(exc), param_hint="--api-scope") from None
    if not org_slug:
        raise click.UsageError(grants.DEPLOYMENT_WIDE)


def _change_scopes(db, client: Client, change, names: tuple[str, ...]) -> grants.ScopeChange:  # noqa: ANN001
    try:
        return change(db, operator_scope(client.organisation_id or 0), client, names, actor(), now=now())
    except AdminError as exc:
        raise click.UsageError(str(exc)) from None


def _find(db, client_id: str) -> Client:  # noqa: ANN001
    client = db.scalar(sa.select(Client).where(Client.client_id == client_id))
    if client is None:
        raise click.BadParameter(f"no client {client_id!r}", param_hint="CLIENT_ID")
    return client


@client_group.command("grant")
@click.argument("client_id")
@click.option("--api-scope", "api_scopes", multiple=True, required=True,
              help=f"An administration API scope (repeatable): {', '.join(scopes.NAMES)}.")
@pass_state
def grant(state: CliState, client_id: str, api_scopes: tuple[str, ...]) -> None:
    """Let a client of one organisation use the administration API with these scopes (audited)."""
    with state.session() as db:
        client = _find(db, client_id)
        _change_scopes(db, client, grants.grant, api_scopes)
        click.echo(f"{client.client_id} may use: {' '.join(sorted(client.api_scopes)) or 'nothing'}")


@client_group.command("revoke")
@click.argument("client_id")
@click.option("--api-scope", "api_scopes", multiple=True, required=True, help="A scope to take away (repeatable).")
@pass_state
def revoke(state: CliState, client_id: str, api_scopes: tuple[str, ...]) -> None:
    """Take administration API scopes away; the client's current tokens stop working (audited)."""
    with state.session() as db:
        client = _find(db, client_id)
        change = _change_scopes(db, client, grants.revoke, api_scopes)
        click.echo(f"{client.client_id} may use: {' '.join(sorted(client.api_scopes)) or 'nothing'}"
                   f" ({change.tokens_revoked} token{'' if change.tokens_revoked == 1 else 's'} revoked)")


