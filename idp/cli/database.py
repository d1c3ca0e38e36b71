"""`idp db upgrade`: apply migrations, then make sure the default organisation and signing keys exist."""
from __future__ import annotations

import click

from idp.migrate import upgrade_database

from .base import CliState, cli, pass_state


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@pass_state
def upgrade(state: CliState) -> None:
    """Migrate the database to the current schema (safe to run again)."""
    upgrade_database(state.services)
    click.echo(f"Database is up to date ({state.config.database.url.split('://')[0]}).")
