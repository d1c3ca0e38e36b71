"""Administration > Clients: the organisation's relying parties — register (the secret is shown once),
edit redirect and sign-out addresses, rotate the secret with a grace window for the old one, disable."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.clients import ClientError, check_backchannel_logout_uri, check_redirect_uri, register_client
from idp.models import Client, Token
from idp.oauth.tokens import revoke_tokens
from idp.security.secrets import digest, new_token

from .permissions import CLIENT_MANAGEMENT, AdminError, AdminScope, NotFound
from .settings import check_reason

MAX_GRACE_HOURS = 30 * 24
NOT_FOUND = "There is no such client in this organisation."


def uri_list(text: str | list[str] | None) -> list[str]:
    """Addresses given one per line (or separated by spaces), in order, without repeats."""
    items = re.split(r"\s+", text) if isinstance(text, str) else list(text or [])
    seen: list[str] = []
    for item in (i.strip() for i in items):
        if item and item not in seen:
            seen.append(item)
    return seen


def _name(name: str) -> str:
    clean = " ".join((name or "").split())
    if not clean:
        raise AdminError("Name: give the application a name")
    if len(clean) > 200:
        raise AdminError("Name: at most 200 characters")
    return clean


def list_clients(db: Session, scope: AdminScope) -> list[Client]:
    scope.require(CLIENT_MANAGEMENT)
    return list(db.scalars(sa.select(Client).where(Client.organisation_id == scope.organisation_id)
                           .order_by(Client.name, Client.id)))


def get(db: Session, scope: AdminScope, client_pk: int | str) -> Client:
    scope.require(CLIENT_MANAGEMENT)
    try:
        key = int(client_pk)
    except (TypeError, ValueError):
        raise NotFound(NOT_FOUND) from None
    client = db.get(Client, key)
    if client is None or client.organisation_id is None or not scope.sees(client.organisation_id):
        raise NotFound(NOT_FOUND)
    return client


def create(db: Session, scope: AdminScope, *, name: str, redirect_uris: str | list[str],
           logout_uris: str | list[str] = "", public: bool = False, actor: Actor,
           development: bool = False) -> tuple[Client, str | None]:
    """Register a client in the scope's organisation; returns it with its secret (shown once)."""
    scope.require(CLIENT_MANAGEMENT)
    clean = _name(name)
    try:
        client, secret = register_client(db, name=clean, redirect_uris=uri_list(redirect_uris),
                                         logout_uris=uri_list(logout_uris), public=public,
                                         organisation_id=scope.organisation_id, development=development)
    except ClientError as exc:
        raise AdminError(str(exc)) from None
    audit.record(db, "client_created", actor, organisation_id=scope.organisation_id, target=client.client_id,
                 details={"name": clean, "redirect_uris": client.redirect_uris, "public": public,
                          "post_logout_redirect_uris": client.post_logout_redirect_uris})
    return client, secret


def update(db: Session, scope: AdminScope, client: Client, *, name: str, redirect_uris: str | list[str],
           logout_uris: str | list[str], actor: Actor, development: bool = False) -> bool:
    """Change the name and addresses; False when nothing changed. Every address is checked first."""
    if not scope.sees(client.organisation_id):
        raise NotFound(NOT_FOUND)
    scope.require(CLIENT_MANAGEMENT)
    clean = _name(name)
    redirects, logouts = uri_list(redirect_uris), uri_list(logout_uris)
    if not redirects:
        raise AdminError("Redirect URIs: at least one is required")
    try:
        for uri in [*redirects, *logouts]:
            check_redirect_uri(uri, development=development)
    except ClientError as exc:
        raise AdminError(str(exc)) from None
    old = {"name": client.name, "redirect_uris": list(client.redirect_uris),
           "post_logout_redirect_uris": list(client.post_logout_redirect_uris)}
    new = {"name": clean, "redirect_uris": redirects, "post_logout_redirect_uris": logouts}
    if old == new:
        return False
    client.name, client.redirect_uris, client.post_logout_redirect_uris = clean, redirects, logouts
    audit.record(db, "client_updated", actor, organisation_id=client.organisation_id, target=client.client_id,
                 details={"old": old, "new": new})
    db.flush()
    return True


def set_backchannel_logout(db: Session, scope: AdminScope, client: Client, *, uri: str, session_required: bool,
                           actor: Actor, development: bool = False) -> bool:
    """Register (or, with an empty `uri`, remove) the client's back-channel logout URI; False when nothing
    changed. The URI is checked first (absolute https, http only on loopback, no fragment)."""
    if not scope.sees(client.organisation_id):
        raise NotFound(NOT_FOUND)
    scope.require(CLIENT_MANAGEMENT)
    clean = (uri or "").strip() or None
    if clean:
        try:
            check_backchannel_logout_uri(clean, development=development)
        except ClientError as exc:
            raise AdminError(str(exc)) from None
    old = {"backchannel_logout_uri": client.backchannel_logout_uri,
           "backchannel_logout_session_required": client.backchannel_logout_session_required}
    new = {"backchannel_logout_uri": clean, "backchannel_logout_session_required": bool(session_required)}
    if old == new:
        return False
    client.backchannel_logout_uri = clean
    client.backchannel_logout_session_required = bool(session_required)
    audit.record(db, "client_updated", actor, organisation_id=client.organisation_id, target=client.client_id,
                 details={"old": old, "new": new})
    db.flush()
    return True


def rotate_secret(db: Session, scope: AdminScope, client: Client, grace_hours: int | str, actor: Actor,
                  *, now: datetime, reason: str = "") -> str:
    """A new secret (returned, shown once); the old one keeps working for `grace_hours` (0: stops now).
    An optional `reason` is kept in the audit log."""
    if not scope.sees(client.organisation_id):
        raise NotFound(NOT_FOUND)
    scope.require(CLIENT_MANAGEMENT)
    why = check_reason(reason, required=False)
    if client.is_public:
        raise AdminError("A public client has no secret to rotate.")
    try:
        hours = int(str(grace_hours).strip())
    except ValueError:
        raise AdminError(f"Old secret keeps working for: {grace_hours!r} is not a whole number of hours") from None
    if not 0 <= hours <= MAX_GRACE_HOURS:
        raise AdminError(f"Old secret keeps working for: between 0 and {MAX_GRACE_HOURS} hours")
    secret = new_token(32)
    if hours:
        client.previous_secret_digest = client.secret_digest
        client.previous_secret_expires_at = now + timedelta(hours=hours)
    else:
        client.previous_secret_digest = None
        client.previous_secret_expires_at = None
    client.secret_digest = digest(secret)
    until = client.previous_secret_expires_at
    audit.record(db, "client_secret_rotated", actor, organisation_id=client.organisation_id,
                 target=client.client_id, details={"old_secret_valid_hours": hours,
                                                   "old_secret_expires_at": until.isoformat() if until else None,
                                                   **({"reason": why} if why else {})})
    db.flush()
    return secret


def set_active(db: Session, scope: AdminScope, client: Client, active: bool, actor: Actor, *,
               reason: str = "") -> bool:
    """Disable (its tokens are revoked, it can no longer sign anyone in) or enable a client; an optional
    `reason` is kept in the audit log."""
    if not scope.sees(client.organisation_id):
        raise NotFound(NOT_FOUND)
    scope.require(CLIENT_MANAGEMENT)
    why = check_reason(reason, required=False)
    if client.is_active == active:
        return False
    client.is_active = active
    details: dict = {"reason": why} if why else {}
    if not active:
        details["tokens_revoked"] = revoke_tokens(db, Token.client_id == client.client_id)
    audit.record(db, "client_enabled" if active else "client_disabled", actor,
                 organisation_id=client.organisation_id, target=client.client_id, details=details)
    db.flush()
    return True
