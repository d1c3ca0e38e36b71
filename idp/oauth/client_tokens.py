"""Access tokens of the client credentials grant (RFC 6749 §4.4): stored as digests, no user, no refresh
token; found again by the administration API's resource protector."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from idp.clock import now
from idp.models import Client
from idp.models.client import ClientAccessToken
from idp.security.secrets import digest


def save(db: Session, client: Client, access_token: str, scope: str, expires_in: int) -> ClientAccessToken:
    current = now()
    row = ClientAccessToken(token_digest=digest(access_token), client_pk=client.id, scope=scope,
                            issued_at=current, expires_at=current + timedelta(seconds=expires_in))
    db.add(row)
    db.flush()
    return row


def find(db: Session, access_token: str) -> ClientAccessToken | None:
    """The row of this token value with its client (expired or revoked rows too: the caller decides)."""
    if not access_token:
        return None
    return db.scalar(sa.select(ClientAccessToken).options(joinedload(ClientAccessToken.client))
                     .where(ClientAccessToken.token_digest == digest(access_token)))


def client_id_of(engine: sa.Engine, access_token: str) -> str | None:
    """The client_id a token value belongs to (live or not), read on a short connection of its own."""
    query = (sa.select(Client.client_id).join(ClientAccessToken, ClientAccessToken.client_pk == Client.id)
             .where(ClientAccessToken.token_digest == digest(access_token)))
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def revoke_all(db: Session, client_pk: int) -> int:
    """Revoke every live token of the client; how many were revoked."""
    return db.execute(sa.update(ClientAccessToken)
                      .where(ClientAccessToken.client_pk == client_pk, ClientAccessToken.revoked_at.is_(None))
                      .values(revoked_at=now()).execution_options(synchronize_session=False)).rowcount
