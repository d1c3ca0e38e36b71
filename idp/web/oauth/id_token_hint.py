"""Reading an `id_token_hint`: an ID token we issued (signature checked; expiry may have passed)."""
from __future__ import annotations

from joserfc import jwt
from joserfc.errors import JoseError

from idp.oauth.keys import public_key_set
from idp.web.context import db, services


def hinted_claims(hint: str) -> dict | None:
    """The claims of an ID token we signed, or None when it is not one."""
    keys = services().keys.get(db)
    try:
        token = jwt.decode(hint, public_key_set(keys), algorithms=["RS256", "ES256"])
    except (JoseError, ValueError):
        return None
    if token.claims.get("iss") != services().config.issuer:
        return None
    return token.claims


def hinted_subject(hint: str) -> str | None:
    claims = hinted_claims(hint)
    return claims.get("sub") if claims else None
