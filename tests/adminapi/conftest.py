"""Fixtures for the administration API: two organisations, API clients with granted scopes, tokens from
the real token endpoint (client credentials grant), and a caller sending them as bearer tokens."""
from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from idp import clock
from idp.adminapi import grants
from idp.administration.permissions import operator_scope
from idp.audit import Actor
from idp.models import AuditEvent, Client, Organisation
from tests.admin.helpers import FakeMailer, Org

ALL_SCOPES = ("idp:users:read", "idp:users:write", "idp:2fa:reset", "idp:settings:write", "idp:audit:read")


@pytest.fixture
def mailbox(services) -> FakeMailer:  # noqa: ANN001
    fake = FakeMailer()
    services.mailer = fake
    return fake


@pytest.fixture
def orgs(factory) -> dict[str, Org]:  # noqa: ANN001
    """acme (2FA required since now, 7 days grace) and globex (2FA off), each with an admin and a user."""
    made = {}
    for slug, settings in (("acme", {"require_2fa": True, "grace_days": 7}), ("globex", {})):
        org_id = factory.org(slug, domains=(f"{slug}.example.com",), **settings)
        admin_id = factory.user(f"admin@{slug}.example.com", org=slug, admin=True, name=f"{slug.title()} Admin")
        user_id = factory.user(f"user@{slug}.example.com", org=slug, name=f"{slug.title()} User")
        made[slug] = Org(slug, org_id, f"admin@{slug}.example.com", f"user@{slug}.example.com", admin_id, user_id)
    with factory.services.database.session() as db:
        db.get(Organisation, made["acme"].id).enforced_since = clock.now()
    return made


@dataclass
class ApiClient:
    client_id: str
    secret: str
    name: str


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def api_client(factory, services) -> Callable[..., ApiClient]:  # noqa: ANN001
    """api_client("acme", scopes) → a confidential client of that organisation with those API scopes."""
    def make(org: str = "acme", scopes: tuple[str, ...] = ALL_SCOPES, name: str = "Fentu FSM") -> ApiClient:
        registered = factory.client(org=org)
        with services.database.session() as db:
            client = db.scalar(sa.select(Client).where(Client.client_id == registered.client_id))
            client.name = name
            if scopes:
                grants.set_scopes(db, operator_scope(client.organisation_id), client, scopes, Actor("cli:test"),
                                  now=clock.now())
        return ApiClient(registered.client_id, registered.secret, name)
    return make


@pytest.fixture
def token_for(client) -> Callable[..., Any]:  # noqa: ANN001
    """token_for(api, "idp:users:read ...") → the token response (the test client's response object)."""
    def request(api: ApiClient, scope: str | None) -> Any:
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
        return client.post("/token", data=form, headers=basic(api.client_id, api.secret))
    return request


class Caller:
    """Requests to /api/v1 with one bearer token."""

    def __init__(self, http: Any, token: str) -> None:
        self.http = http
        self.token = token

    def __call__(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.open(f"/api/v1{path}", method=method, json=json, headers=headers, **kwargs)


@pytest.fixture
def api(client, api_client, token_for) -> Callable[..., Caller]:  # noqa: ANN001
    """api(scopes, org="acme") → a Caller with a fresh token of a new client holding exactly `scopes`."""
    def make(scopes: tuple[str, ...] = ALL_SCOPES, org: str = "acme", name: str = "Fentu FSM") -> Caller:
        made = api_client(org, scopes, name)
        answer = token_for(made, " ".join(scopes))
        assert answer.status_code == 200, answer.get_json()
        return Caller(client, answer.get_json()["access_token"])
    return make


def audit_entries(services, org_id: int, event: str) -> list[AuditEvent]:  # noqa: ANN001
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.organisation_id == org_id,
                                                           AuditEvent.event == event).order_by(AuditEvent.seq)))
        db.expunge_all()
        return rows
