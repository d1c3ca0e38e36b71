"""The `idp` command line: serve, set up and operate a deployment."""
from __future__ import annotations

import sys

import click

from idp.config import ConfigError
from idp.flow.policy import PolicyError

from .base import cli


def main() -> None:
    """Entry point: bad arguments and configuration errors end with one line and exit status 2."""
    from . import clients, database, keys, orgs, serve, setup, users  # noqa: F401  (register commands)
    _load_optional()
    try:
        code = cli.main(standalone_mode=False)  # returns ctx.exit()'s code instead of exiting
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        click.echo(f"idp: {exc.format_message()}", err=True)
        sys.exit(2)
    except ConfigError as exc:
        click.echo(f"idp: configuration error: {exc}", err=True)
        sys.exit(2)
    except PolicyError as exc:
        click.echo("idp: the policy files are not valid; refusing to start:", err=True)
        for line in exc.errors:
            click.echo(line, err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"idp: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)


def _load_optional() -> None:
    """Command modules added by later features register themselves when present."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
