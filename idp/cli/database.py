"""`idp db upgrade`: apply migrations, then make sure the default organisation and signing keys exist;
`idp db purge`: delete expired rows now."""
from __future__ import annotations

from datetime import timedelta

import click

from idp.migrate import upgrade_database
from idp.purge import purge_expired

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


@db_group.command("purge")
@pass_state
def purge(state: CliState) -> None:
    """Delete expired sign-ins, codes, challenges, nonces, tokens and rate-limit counters now (the server
    also does it every [purge] interval_minutes); rows are kept [purge] retention_hours past their expiry."""
    retention = timedelta(hours=state.config.purge.retention_hours)
    with state.services.database.session() as db:
        counts = purge_expired(db, retention)
    click.echo("Deleted expired rows: " + ", ".join(f"{table} {n}" for table, n in counts.items()) + ".")
