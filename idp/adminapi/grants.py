"""Which administration API scopes a client holds: granted explicitly by an administrator (console or command
line), only to a confidential client of one organisation, never beyond the granting administrator's own
permissions; every change is audited and a removed scope revokes the client's live tokens."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from idp import audit
from idp.administration.permissions import CLIENT_MANAGEMENT, AdminError, AdminScope, NotFound
from idp.audit import Actor
from idp.models import Client
from idp.models.client import ClientApiScope
from idp.oauth import client_tokens

from . import scopes

DEPLOYMENT_WIDE = ("Administration API scopes can only be granted to a client of one organisation; this client is "
                   "deployment-wide (open to every organisation). Register a separate client for the API with "
                   "--org SLUG (or in that organisation's Administration > Clients).")
PUBLIC = "A public client has no secret, so it cannot use the administration API; register a confidential client."


@dataclass(frozen=True)
class ScopeChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    tokens_revoked: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def set_scopes(db: Session, scope: AdminScope, client: Client, wanted: Iterable[str], actor: Actor,
               *, now: datetime) -> ScopeChange:
    """Make the client's granted API scopes exactly `wanted`. Refused (AdminError, nothing changed): an
    unknown scope, a deployment-wide or public client, a scope whose permission the administrator lacks."""
    scope.require(CLIENT_MANAGEMENT)
    try:
        names = set(scopes.checked(wanted))
    except scopes.ScopeError as exc:
        raise AdminError(str(exc)) from None
    held = set(client.api_scopes)
    if names and client.organisation_id is None:
        raise AdminError(DEPLOYMENT_WIDE)
    if client.organisation_id is None or not scope.sees(client.organisation_id):
        raise NotFound("There is no such client in this organisation.")
    if names and client.is_public:
        raise AdminError(PUBLIC)
    added, removed = names - held, held - names
    for name in sorted(added | removed):
        scope.require(scopes.permission_for(name))
    if not added and not removed:
        return ScopeChange((), ())
    client.api_grants = [g for g in client.api_grants if g.scope not in removed] + [
        ClientApiScope(scope=name, granted_by=actor.name, granted_at=now) for name in scopes.checked(added)]
    revoked = client_tokens.revoke_all(db, client.id) if removed else 0
    change = ScopeChange(scopes.checked(added), scopes.checked(removed), revoked)
    audit.record(db, "client_api_scopes_changed", actor, organisation_id=client.organisation_id,
                 target=client.client_id, details={"name": client.name, "added": list(change.added),
                                                   "removed": list(change.removed), "tokens_revoked": revoked,
                                                   "scopes": list(scopes.checked(names))})
    db.flush()
    return change


def grant(db: Session, scope: AdminScope, client: Client, names: Iterable[str], actor: Actor,
          *, now: datetime) -> ScopeChange:
    """Add `names` to what the client holds."""
    return set_scopes(db, scope, client, [*client.api_scopes, *names], actor, now=now)


def revoke(db: Session, scope: AdminScope, client: Client, names: Iterable[str], actor: Actor,
           *, now: datetime) -> ScopeChange:
    """Take `names` away (its live tokens are revoked)."""
    try:
        gone = set(scopes.checked(names))
    except scopes.ScopeError as exc:
        raise AdminError(str(exc)) from None
    return set_scopes(db, scope, client, [s for s in client.api_scopes if s not in gone], actor, now=now)
