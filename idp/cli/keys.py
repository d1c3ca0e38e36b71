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
@pass_state
def rotate(state: CliState) -> None:
    """Publish new keys now; they sign after the publication delay (every JWKS a relying party may hold
    has them by then); keep the old ones in the JWKS until every token they signed expired."""
    keep = timedelta(seconds=state.config.tokens.id_token_ttl + 3600)
    with state.session() as db:
        new = rotate_keys(db, state.services.kek, keep)
        audit.record(db, "signing_keys_rotated", actor(), organisation_id=None,
                     details={"new_kids": [k.kid for k in new]})
    for key in new:
        click.echo(f"New {key.alg} key {key.kid}")
    click.echo(f"The new keys are published now and sign in {PUBLICATION_DELAY}; "
               f"the old keys sign until then and stay published for {keep} more.")
