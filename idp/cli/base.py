"""The root `idp` group, and the shared way commands get the config, database and services."""
from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from sqlalchemy.orm import Session

from idp.audit import Actor
from idp.config import AppConfig, load_config
from idp.outbox.queue import ENQUEUED
from idp.outbox.worker import drain
from idp.services import Services, build_services


@dataclass
class CliState:
    config_path: str | None
    _services: Services | None = None

    @property
    def config(self) -> AppConfig:
        return self.services.config

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = build_services(load_config(self.config_path))
        return self._services

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.services.database.session() as db:
            yield db
        if db.info.pop(ENQUEUED, False):     # mail the command queued leaves now, not at the server's next sweep
            drain(self.services)


def actor() -> Actor:
    """Actions from the command line are audited as `cli:<operating-system user>`."""
    return Actor(name=f"cli:{getpass.getuser()}")


pass_state = click.make_pass_decorator(CliState)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="IDP_CONFIG", type=click.Path(dir_okay=False),
              help="Path of the TOML config file (default: $IDP_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Fentu IdP: an OpenID Connect identity provider."""
    ctx.obj = CliState(config_path)
