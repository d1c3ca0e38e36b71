"""Single-use tokens of emailed links: random, stored as a SHA-256 digest, bound to one account and one
purpose, expiring, claimed atomically (of two concurrent uses exactly one wins)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.clock import now
from idp.models import AccountToken, User
from idp.security.secrets import digest, new_token

PASSWORD_RESET = "password_reset"
VERIFY_EMAIL = "verify_email"
MAX_TOKEN_LENGTH = 200


def issue(db: Session, user: User, purpose: str, ttl: timedelta, *, email: str | None = None,
          ip: str | None = None) -> str:
    """A new link token; the user's earlier open tokens of this purpose stop working (the newest link counts)."""
    revoke_open(db, user.id, purpose)
    token = new_token()
    current = now()
    db.add(AccountToken(user_id=user.id, purpose=purpose, token_digest=digest(token), email=email or user.email,
                        created_at=current, expires_at=current + ttl, ip=ip))
    db.flush()
    return token


def find(db: Session, token: str | None, purpose: str) -> AccountToken | None:
    """The usable token row: right purpose, unused, unexpired, its account active; else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.scalar(sa.select(AccountToken).where(AccountToken.token_digest == digest(token)))
    if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= now():
        return None
    if not row.user.is_active:
        return None
    return row


def claim(db: Session, row: AccountToken) -> bool:
    """Use the token up; False when it was used (or expired) meanwhile."""
    current = now()
    claimed = db.execute(sa.update(AccountToken).where(
        AccountToken.id == row.id, AccountToken.used_at.is_(None), AccountToken.expires_at > current)
        .values(used_at=current).execution_options(synchronize_session=False)).rowcount
    db.expire(row)
    return claimed == 1


def revoke_open(db: Session, user_id: int, purpose: str | None = None) -> int:
    """Every open token of the user (of `purpose`, or all) stops working; old rows are removed."""
    current = now()
    query = sa.update(AccountToken).where(AccountToken.user_id == user_id, AccountToken.used_at.is_(None))
    if purpose is not None:
        query = query.where(AccountToken.purpose == purpose)
    count = db.execute(query.values(used_at=current).execution_options(synchronize_session=False)).rowcount
    db.execute(sa.delete(AccountToken).where(AccountToken.user_id == user_id,
                                             AccountToken.expires_at < current - timedelta(days=7)))
    return count


def recent(db: Session, user_id: int, purpose: str, within: timedelta) -> list[AccountToken]:
    """The user's tokens of `purpose` issued in the last `within`, newest last (for throttling sends)."""
    return list(db.scalars(sa.select(AccountToken).where(
        AccountToken.user_id == user_id, AccountToken.purpose == purpose,
        AccountToken.created_at > now() - within).order_by(AccountToken.created_at, AccountToken.id)))
