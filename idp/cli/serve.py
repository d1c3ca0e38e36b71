"""`idp serve`: the production server (gunicorn); the policy files and config are checked first."""
from __future__ import annotations

import click

from .base import CliState, cli, pass_state


@cli.command("serve")
@click.option("--host", default=None, help="Default: [server] host.")
@click.option("--port", default=None, type=int, help="Default: [server] port.")
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="Default: [server] workers.")
@pass_state
def serve(state: CliState, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the identity provider with gunicorn."""
    from idp.server import run_gunicorn

    config = state.config
    run_gunicorn(state.config_path, config, host or config.server.host, port or config.server.port,
                 workers or config.server.workers)
