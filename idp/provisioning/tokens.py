"""Provisioning tokens: created and revoked by an organisation's administrators, shown once, stored as a
SHA-256 digest, and good for that organisation only (RFC 7644 §2: bearer authentication)."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.models import ScimToken
from idp.security.secrets import digest, new_token

PREFIX = "scim_"                       # recognisable in secret scanners and logs
LAST_USED_EVERY = timedelta(minutes=1)  # how often "last used" is written (not on every request)
MAX_NAME = 100


class TokenError(ValueError):
    """A refused token operation, with a message fit for the administrator; nothing was changed."""


def check_name(name: str) -> str:
    text = " ".join((name or "").split())
    if not text:
        raise TokenError("Name: say what the token is for (e.g. \"Entra ID\" or \"Okta\")")
    if len(text) > MAX_NAME:
        raise TokenError(f"Name: at most {MAX_NAME} characters")
    return text


def create(db: Session, organisation_id: int, name: str, actor: Actor, *, now: datetime) -> tuple[ScimToken, str]:
    """A new token for the organisation; returns the row and the token itself (shown once, never stored)."""
    label = check_name(name)
    token = PREFIX + new_token()
    row = ScimToken(organisation_id=organisation_id, name=label, token_digest=digest(token), created_at=now,
                    created_by=actor.name[:320])
    db.add(row)
    db.flush()
    audit.record(db, "scim_token_created", actor, organisation_id=organisation_id,
                 details={"name": label, "token_id": row.id})
    return row, token


def listing(db: Session, organisation_id: int) -> list[ScimToken]:
    """The organisation's tokens, live ones first, newest first."""
    return list(db.scalars(sa.select(ScimToken).where(ScimToken.organisation_id == organisation_id)
                           .order_by(ScimToken.revoked_at.is_not(None), ScimToken.created_at.desc(),
                                     ScimToken.id.desc())))


def find(db: Session, organisation_id: int, token_id: int | str) -> ScimToken:
    """The organisation's token with this id; TokenError for anything else (another organisation's too)."""
    try:
        key = int(token_id)
    except (TypeError, ValueError):
        raise TokenError("There is no such provisioning token in this organisation.") from None
    row = db.get(ScimToken, key)
    if row is None or row.organisation_id != organisation_id:
        raise TokenError("There is no such provisioning token in this organisation.")
    return row


def revoke(db: Session, organisation_id: int, token_id: int | str, actor: Actor, *, now: datetime) -> bool:
    """Stop the token at once; False when it already was revoked."""
    row = find(db, organisation_id, token_id)
    if row.revoked_at is not None:
        return False
    row.revoked_at = now
    audit.record(db, "scim_token_revoked", actor, organisation_id=organisation_id,
                 details={"name": row.name, "token_id": row.id})
    db.flush()
    return True


def authenticate(db: Session, presented: str | None, *, now: datetime) -> ScimToken | None:
    """The live token for a presented bearer value, or None (unknown, revoked, malformed)."""
    if not presented or not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    row = db.scalar(sa.select(ScimToken).where(ScimToken.token_digest == digest(presented)))
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
    return row


def actor_for(token: ScimToken, ip: str | None = None, user_agent: str | None = None) -> Actor:
    """Changes made through a token are audited as `scim:<token name>`."""
    return Actor(name=f"scim:{token.name}"[:320], ip=ip, user_agent=user_agent)
