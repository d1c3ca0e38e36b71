"""Standard claims about a user, released by scope (OpenID Connect Core §5.4)."""
from __future__ import annotations

from idp.models import User


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
