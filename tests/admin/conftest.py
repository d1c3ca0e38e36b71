"""Fixtures for Administration: two organisations side by side, a captured mailbox, another browser,
and the CLI in-process (sharing the test's services). Helpers are in tests/admin/helpers.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from idp import clock
from idp.models import Organisation, User
from tests.admin.helpers import CliResult, FakeMailer, Org, add_totp
from tests.support.browser import Browser
from tests.support.configs import write_config_file


@pytest.fixture
def mailbox(services) -> FakeMailer:  # noqa: ANN001
    """Email switched on, captured (replaces services.mailer for the app and the CLI)."""
    fake = FakeMailer()
    services.mailer = fake
    return fake


@pytest.fixture
def orgs(factory) -> dict[str, Org]:  # noqa: ANN001
    """acme (2FA required since now, 7 days grace) and globex (2FA off), each with an admin (every
    permission, an authenticator app) and a plain user."""
    made = {}
    for slug, settings in (("acme", {"require_2fa": True, "grace_days": 7}), ("globex", {})):
        org_id = factory.org(slug, domains=(f"{slug}.example.com",), **settings)
        admin_id = factory.user(f"admin@{slug}.example.com", org=slug, admin=True, name=f"{slug.title()} Admin")
        user_id = factory.user(f"user@{slug}.example.com", org=slug, name=f"{slug.title()} User")
        made[slug] = Org(slug, org_id, f"admin@{slug}.example.com", f"user@{slug}.example.com", admin_id, user_id)
    with factory.services.database.session() as db:
        db.get(Organisation, made["acme"].id).enforced_since = clock.now()
        for org in made.values():
            add_totp(db, factory.services, db.get(User, org.admin_id))
    return made


@pytest.fixture
def admin_browser(app):  # noqa: ANN001, ANN201
    """new() → another, independent browser (its own cookies) on the same app."""
    return lambda: Browser(client=app.test_client())


@pytest.fixture
def idp_cli(tmp_path: Path, database_url: str, services, monkeypatch):  # noqa: ANN001, ANN201
    """idp_cli("settings", "show", "--org", "acme") → CliResult (stdout and stderr together)."""
    import idp.cli.admin  # noqa: F401  (registers the commands)
    import idp.cli.users  # noqa: F401
    import idp.cli.factors  # noqa: F401  (user show)
    from idp.cli import base

    config = write_config_file(tmp_path / "cli.toml", database_url, "http://localhost")
    monkeypatch.setattr(base, "build_services", lambda _config: services)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> CliResult:  # noqa: A002
        result = runner.invoke(base.cli, ["--config", str(config), *args], input=input, catch_exceptions=False)
        return CliResult(result.exit_code, result.output)
    return run
