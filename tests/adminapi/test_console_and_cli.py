"""Granting API scopes: on the client's page in Administration > Clients (checkboxes, a fresh proof, only
within the administrator's own permissions) and with `idp client create|grant|revoke --api-scope`; never to
a deployment-wide client."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from idp.administration.permissions import USER_MANAGEMENT, revoke
from idp.audit import Actor
from idp.models import Client, User
from tests.admin.helpers import add_totp, audit_events, checked, main, sign_in
from tests.adminapi.conftest import basic
from tests.support.configs import write_config_file


def _client(services, client_id: str) -> Client:  # noqa: ANN001
    with services.database.session() as db:
        row = db.scalar(sa.select(Client).where(Client.client_id == client_id))
        scopes = row.api_scopes
        db.expunge_all()
        row.granted = scopes
        return row


@pytest.fixture
def acme_admin(browser, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    with services.database.session() as db:
        add_totp(db, services, db.get(User, orgs["acme"].admin_id))
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    return browser


def test_an_administrator_ticks_scopes_on_the_client_page(acme_admin, factory, orgs, services, client):
    rp = factory.client(org="acme")
    pk = _client(services, rp.client_id).id
    page = acme_admin.open(f"/admin/clients/{pk}")
    assert "Administration API" in main(page) and checked(page.text, "api_scopes") == []
    saved = acme_admin.submit(page, "api_scopes", {"api_scopes": ["idp:users:read", "idp:2fa:reset"]})
    assert "API access saved." in saved.text
    assert checked(saved.text, "api_scopes") == ["idp:users:read", "idp:2fa:reset"]
    assert _client(services, rp.client_id).granted == {"idp:users:read", "idp:2fa:reset"}
    entry = audit_events(services, orgs["acme"].id, "client_api_scopes_changed")[-1]
    assert entry.actor == "user:admin@acme.example.com" and entry.details["added"] == ["idp:users:read", "idp:2fa:reset"]
    token = client.post("/token", data={"grant_type": "client_credentials", "scope": "idp:2fa:reset"},
                        headers=basic(rp.client_id, rp.secret))
    assert token.status_code == 200


def test_an_administrator_cannot_grant_beyond_their_own_permissions(acme_admin, factory, orgs, services):
    with services.database.session() as db:
        revoke(db, db.get(User, orgs["acme"].admin_id), USER_MANAGEMENT, Actor("cli:test"))
    rp = factory.client(org="acme")
    pk = _client(services, rp.client_id).id
    page = acme_admin.open(f"/admin/clients/{pk}")
    refused = acme_admin.submit(page, "api_scopes", {"api_scopes": ["idp:users:write"]})
    assert refused.status == 400 and "User Management" in refused.text
    assert _client(services, rp.client_id).granted == frozenset()
    assert acme_admin.submit(acme_admin.open(f"/admin/clients/{pk}"), "api_scopes",
                             {"api_scopes": ["idp:audit:read"]}).status == 200


def test_a_public_client_gets_no_checkboxes(acme_admin, factory, services):
    rp = factory.client(org="acme", public=True)
    page = acme_admin.open(f"/admin/clients/{_client(services, rp.client_id).id}")
    assert 'name="api_scopes"' not in page.text and "cannot use the administration API" in page.text


@pytest.fixture
def idp_cli(tmp_path, database_url, services, monkeypatch):  # noqa: ANN001, ANN201
    import idp.cli.clients  # noqa: F401  (registers the commands)
    from idp.cli import base

    config = write_config_file(tmp_path / "cli.toml", database_url, "http://localhost")
    monkeypatch.setattr(base, "build_services", lambda _config: services)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(base.cli, ["--config", str(config), *args])
        return result.exit_code, result.output
    return run


def test_the_cli_creates_an_api_client_and_grants_and_revokes(orgs, idp_cli, services):
    code, out = idp_cli("client", "create", "--name", "FSM admin", "--org", "acme", "--api-scope", "idp:users:read",
                        "--json")
    assert code == 0, out
    made = json.loads(out)
    assert _client(services, made["client_id"]).granted == {"idp:users:read"}
    code, out = idp_cli("client", "grant", made["client_id"], "--api-scope", "idp:audit:read")
    assert code == 0 and "idp:audit:read" in out, out
    assert _client(services, made["client_id"]).granted == {"idp:users:read", "idp:audit:read"}
    code, out = idp_cli("client", "revoke", made["client_id"], "--api-scope", "idp:users:read")
    assert code == 0, out
    assert _client(services, made["client_id"]).granted == {"idp:audit:read"}
    assert audit_events(services, orgs["acme"].id, "client_api_scopes_changed")[-1].actor.startswith("cli:")


def test_the_cli_refuses_a_deployment_wide_client_and_unknown_scopes(orgs, idp_cli, factory, services):
    wide = factory.client()
    code, out = idp_cli("client", "grant", wide.client_id, "--api-scope", "idp:users:read")
    assert code == 2 and "deployment-wide" in out
    assert _client(services, wide.client_id).granted == frozenset()
    code, out = idp_cli("client", "create", "--name", "X", "--api-scope", "idp:users:read")
    assert code == 2 and "deployment-wide" in out
    code, out = idp_cli("client", "create", "--name", "X", "--org", "acme", "--api-scope", "idp:root")
    assert code == 2 and "unknown administration API scope" in out
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(Client.id)).where(Client.name == "X")) == 0


def test_granting_needs_a_fresh_proof(acme_admin, factory, services, frozen_clock):
    rp = factory.client(org="acme")
    pk = _client(services, rp.client_id).id
    page = acme_admin.open(f"/admin/clients/{pk}")
    frozen_clock.advance(minutes=11)
    answer = acme_admin.client.post(f"/admin/clients/{pk}/api-scopes", follow_redirects=False,
                                    data={"api_scopes": ["idp:users:read"],
                                          "csrf_token": page.form("api_scopes").fields["csrf_token"]})
    assert answer.status_code == 302 and "/admin/confirm" in answer.headers["Location"]
    assert _client(services, rp.client_id).granted == frozenset()
