"""`idp init`: a working config with fresh secrets for a new deployment."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from idp.security.encryption import KeyEncryption

from .base import cli

TEMPLATE = """# Fentu IdP configuration, written by `idp init`. Every key is explained in config.example.toml.
# Keep this file private: it holds the deployment's secrets (mode 0600).
issuer = "{issuer}"
development = {development}
instance_dir = "{instance}"

[secrets]
session_key = "{session_key}"
key_encryption_key = "{kek}"

[database]
url = "{database_url}"

[policy]
dir = "{policy_dir}"
{development_delivery}"""

# `--development`: email and SMS work out of the box; messages are shown on /dev/outbox, never sent.
DEVELOPMENT_DELIVERY = """
[email]
enabled = true
provider = "outbox"

[sms]
provider = "outbox"
"""


@cli.command("init")
@click.argument("directory", default="instance", type=click.Path(file_okay=False))
@click.option("--issuer", default="http://localhost:8000", show_default=True,
              help="Public base URL (a host name, not an IP address: browsers refuse passkeys for IP addresses).")
@click.option("--database-url", default=None, help="Default: a SQLite file in DIRECTORY.")
@click.option("--policy-dir", default="policies", show_default=True)
@click.option("--development/--production", default=False,
              help="Allow development-only features; email and SMS go to the /dev/outbox page.")
@click.option("--force", is_flag=True, help="Overwrite an existing config.toml.")
def init(directory: str, issuer: str, database_url: str | None, policy_dir: str, development: bool,
         force: bool) -> None:
    """Write DIRECTORY/config.toml with freshly generated secrets (mode 0600)."""
    target = Path(directory) / "config.toml"
    if target.exists() and not force:
        raise click.UsageError(f"{target} already exists (use --force to overwrite)")
    Path(directory).mkdir(parents=True, exist_ok=True)
    text = TEMPLATE.format(
        issuer=issuer.rstrip("/"), development=str(development).lower(), instance=directory,
        session_key=secrets.token_urlsafe(48), kek=KeyEncryption.generate_key(),
        database_url=database_url or f"sqlite:///{Path(directory).resolve() / 'idp.db'}",
        policy_dir=Path(policy_dir).resolve(), development_delivery=DEVELOPMENT_DELIVERY if development else "")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(target, 0o600)
    click.echo(f"Wrote {target}. Next: IDP_CONFIG={target} idp db upgrade")
