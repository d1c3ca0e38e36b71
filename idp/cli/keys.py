"""`idp keys rotate`: a new signing key, published at once and signing after the publication delay; the
old one stays published until its tokens have expired."""
from __future__ import annotations

from datetime import timedelta

import click

from idp import audit
from idp.oauth.keys import PUBLICATION_DELAY, rotate_keys

from .base import CliState, actor, cli, pass_state


@cli.group("keys")
def keys_group() -> None:
    """ID token signing keys."""


@keys_group.command("rotate")
@click.option("--now", "at_once", is_flag=True,
              help="After a leak: the new keys sign at once and the old ones are withdrawn from the JWKS at once.")
@pass_state
def rotate(state: CliState, at_once: bool) -> None:
    """Publish new keys now; they sign after the publication delay (every JWKS a relying party may hold
    has them by then); keep the old ones in the JWKS until every token they signed expired. With --now
    (a leaked key), the switch is immediate: tokens the old keys signed stop verifying, and a relying party
    holding a cached JWKS fails to verify new tokens until it fetches the JWKS again (at most its max-age)."""
    keep = timedelta(0) if at_once else timedelta(seconds=state.config.tokens.id_token_ttl + 3600)
    delay = timedelta(0) if at_once else PUBLICATION_DELAY
    with state.session() as db:
        new = rotate_keys(db, state.services.kek, keep, delay)
        audit.record(db, "signing_keys_rotated", actor(), organisation_id=None,
                     details={"new_kids": [k.kid for k in new], "immediately": at_once})
    for key in new:
        click.echo(f"New {key.alg} key {key.kid}")
    if at_once:
        click.echo("The new keys sign now (every worker within seconds); the old keys are no longer published.")
    else:
        click.echo(f"The new keys are published now and sign in {PUBLICATION_DELAY}; "
                   f"the old keys sign until then and stay published for {keep} more.")
