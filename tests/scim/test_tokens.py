"""Provisioning tokens: Administration > Settings > Provisioning (list, create shown once, revoke; only the
own organisation's tokens) and `idp scim token create|list|revoke`."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from idp.models import AuditEvent, ScimToken, User
from tests.admin.helpers import add_totp, csrf_token, post, sign_in
from tests.support.browser import Browser
from tests.support.configs import write_config_file

from .conftest import BASE

PAGE = "/admin/settings/provisioning"


@pytest.fixture
def admins(factory, services) -> dict[str, str]:  # noqa: ANN001
    """One administrator per organisation, each with an authenticator app (administrators must use one)."""
    factory.org("acme", domains=("acme-corp.com",))
    ids = [factory.user("admin@example.com", admin=True), factory.user("admin@acme-corp.com", org="acme", admin=True)]
    factory.user("plain@example.com")
    with services.database.session() as db:
        for user_id in ids:
            add_totp(db, services, db.get(User, user_id))
    return {"default": "admin@example.com", "acme": "admin@acme-corp.com"}


def _scim_status(client, token: str) -> int:  # noqa: ANN001
    return client.get(f"{BASE}/Users", headers={"Authorization": f"Bearer {token}"}).status_code


def test_create_shows_the_token_once_and_it_works_until_revoked(browser, client, admins, services):
    page = sign_in(browser, admins["default"], PAGE)
    assert page.status == 200 and "No tokens yet." in page.text and f"http://localhost{BASE}" in page.text

    shown = browser.submit(page, "name", {"name": "Entra ID"})
    token = re.search(r'id="scim-token">([^<]+)<', shown.text).group(1)
    assert "shown only once" in shown.text and _scim_status(client, token) == 200

    listing = browser.open(PAGE)
    assert "Entra ID" in listing.text and token not in listing.text and "Active" in listing.text
    with services.database.session() as db:
        row = db.scalar(sa.select(ScimToken))
        assert row.created_by == "user:admin@example.com" and row.last_used_at is not None

    revoke = re.search(r'action="([^"]+/revoke)"', listing.text).group(1)
    reply = post(browser, revoke, {}, csrf_token(browser, PAGE))
    assert reply.status_code == 302
    assert "stopped working" in browser.open(PAGE).text
    assert _scim_status(client, token) == 401
    with services.database.session() as db:
        events = [e.event for e in db.scalars(sa.select(AuditEvent).where(AuditEvent.event.like("scim_token%"))
                                              .order_by(AuditEvent.id))]
        assert events == ["scim_token_created", "scim_token_revoked"]


def test_an_empty_name_is_refused(browser, admins, services):
    page = sign_in(browser, admins["default"], PAGE)
    reply = browser.submit(page, "name", {"name": "   "})
    assert reply.status == 400 and "Name:" in reply.text
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(ScimToken.id))) == 0


def test_another_organisations_token_cannot_be_seen_or_revoked(app, browser, client, admins, services):
    acme = Browser(client=app.test_client())
    shown = browser_submit_token(acme, admins["acme"], "Acme directory")
    token_id = _only_token_id(services)

    page = sign_in(browser, admins["default"], PAGE)
    assert "Acme directory" not in page.text
    reply = post(browser, f"{PAGE}/tokens/{token_id}/revoke", {}, csrf_token(browser, PAGE))
    assert reply.status_code == 404
    assert _scim_status(client, shown) == 200


def test_users_without_user_management_get_403(browser, admins):
    page = sign_in(browser, "plain@example.com", PAGE)
    assert page.status == 403


def browser_submit_token(browser: Browser, email: str, name: str) -> str:
    page = sign_in(browser, email, PAGE)
    shown = browser.submit(page, "name", {"name": name})
    return re.search(r'id="scim-token">([^<]+)<', shown.text).group(1)


def _only_token_id(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(ScimToken.id))


def test_cli_create_list_revoke(tmp_path: Path, database_url, services, client, monkeypatch):
    import idp.cli.scim  # noqa: F401  (registers the commands)
    from idp.cli import base

    config = write_config_file(tmp_path / "cli.toml", database_url, "http://localhost")
    monkeypatch.setattr(base, "build_services", lambda _config: services)
    runner = CliRunner()

    def run(*args: str):  # noqa: ANN202
        return runner.invoke(base.cli, ["--config", str(config), "scim", "token", *args], catch_exceptions=False)

    created = run("create", "--org", "default", "--name", "Okta")
    assert created.exit_code == 0, created.output
    token = re.search(r"token:\s+(\S+)", created.output).group(1)
    token_id = re.search(r"id:\s+(\d+)", created.output).group(1)
    assert _scim_status(client, token) == 200

    listed = run("list", "--org", "default")
    assert "Okta" in listed.output and "active" in listed.output and token not in listed.output

    assert run("create", "--org", "default", "--name", "").exit_code == 2
    assert run("create", "--org", "nope", "--name", "X").exit_code == 2
    assert run("revoke", "--org", "default", "999").exit_code == 2

    revoked = run("revoke", "--org", "default", token_id)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert _scim_status(client, token) == 401
    assert "revoked" in run("list", "--org", "default").output
