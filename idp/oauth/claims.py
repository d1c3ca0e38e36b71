"""Standard claims about a user, released by scope (OpenID Connect Core §5.4)."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import User


def user_claims(user: User | sa.Row, scope: str) -> dict:
    """`sub` always; email and profile claims only when their scope was granted. `user` is a User or a row
    with its columns `subject`, `email`, `email_verified`, `name` (idp.oauth.tokens.find_access_token)."""
    scopes = set(scope.split())
    claims: dict = {"sub": user.subject}
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    if "profile" in scopes:
        claims["name"] = user.name or user.email
        claims["preferred_username"] = user.email
    return claims
