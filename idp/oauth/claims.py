"""Standard claims about a user, released by scope (OpenID Connect Core §5.4)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.models import BrowserSession, User


def user_claims(user: User, scope: str) -> dict:
    """`sub` always; email and profile claims only when their scope was granted."""
    scopes = set(scope.split())
    claims: dict = {"sub": user.subject}
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    if "profile" in scopes:
        claims["name"] = user.name or user.email
        claims["preferred_username"] = user.email
    return claims


def public_sid(db: Session, sid: str) -> str | None:
    """The `sid` claim for the browser session whose cookie value is `sid`: its public id (Front/Back-Channel
    Logout §3 / §2.4), never the cookie value itself, the same for a session rotated since."""
    return db.scalar(sa.select(BrowserSession.public_sid).where(BrowserSession.sid == sid))
