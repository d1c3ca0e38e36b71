"""SCIM test helpers: a provisioning token per organisation and a client speaking application/scim+json."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from idp import accounts
from idp.audit import Actor
from idp.clock import now
from idp.provisioning import tokens

MEDIA = "application/scim+json"
BASE = "/scim/v2"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class Scim:
    """Requests to /scim/v2 with one organisation's token."""

    client: Any
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": MEDIA}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BASE + path, query_string=params, headers=self._headers())

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(BASE + path, json=body, headers=self._headers(), content_type=MEDIA)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(BASE + path, json=body, headers=self._headers(), content_type=MEDIA)

    def patch(self, path: str, *operations: dict[str, Any]) -> Any:
        body = {"schemas": [PATCH], "Operations": list(operations)}
        return self.client.patch(BASE + path, json=body, headers=self._headers(), content_type=MEDIA)

    def delete(self, path: str) -> Any:
        return self.client.delete(BASE + path, headers=self._headers())


def make_token(services: Any, org_slug: str, name: str = "Entra ID") -> str:
    with services.database.session() as db:
        org = accounts.organisation_by_slug(db, org_slug)
        _, token = tokens.create(db, org.id, name, Actor("cli:test"), now=now())
        return token


@pytest.fixture
def scim(client, services) -> Scim:  # noqa: ANN001
    """The `default` organisation's provisioning token, named "Entra ID"."""
    return Scim(client, make_token(services, "default"))


@pytest.fixture
def other_scim(client, services, factory) -> Scim:  # noqa: ANN001
    """A second organisation (`acme`, domain acme-corp.com) with its own token."""
    factory.org("acme", domains=("acme-corp.com",))
    return Scim(client, make_token(services, "acme", "Okta"))


def user_body(email: str, *, external_id: str = "ext-1", given: str = "Bob", family: str = "Builder",
              active: bool | str = True, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": email, "externalId": external_id, "active": active,
            "name": {"givenName": given, "familyName": family}, "displayName": f"{given} {family}",
            "emails": [{"value": email, "type": "work", "primary": True}], **extra}
