"""What a verified client credentials token may do now: the client must still be active, bound to one
organisation and hold the scope (a grant taken away stops working at once), and it acts with the same
AdminScope as an administrator holding the matching permissions, audited as `client:<client name>`."""
from __future__ import annotations

from dataclasses import dataclass

from idp.administration.permissions import AdminScope
from idp.audit import Actor
from idp.models import Client
from idp.models.client import ClientAccessToken

from . import scopes


@dataclass(frozen=True)
class ApiCaller:
    """The client behind a request, the scopes it may use now, and how the audit log names it."""

    client: Client
    scopes: frozenset[str]
    actor: Actor

    @property
    def organisation_id(self) -> int:
        return self.client.organisation_id

    def admin_scope(self) -> AdminScope:
        """The console's permission model: the permissions its usable scopes stand for, in its organisation;
        no administrator user (so no "your own account" rules and no fresh proof: a machine has neither)."""
        return AdminScope(organisation_id=self.client.organisation_id,
                          permissions=scopes.permissions_for(self.scopes))

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def actor_name(client: Client) -> str:
    return f"client:{client.name}"


def caller_for(token: ClientAccessToken, ip: str | None, user_agent: str | None) -> ApiCaller | None:
    """The caller of a live token, or None when its client may no longer use the API at all."""
    client = token.client
    if client is None or not client.is_active or not client.is_api_client:
        return None
    usable = frozenset(token.scope.split()) & client.api_scopes
    return ApiCaller(client=client, scopes=usable, actor=Actor(actor_name(client), ip, user_agent))
