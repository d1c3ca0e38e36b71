"""The Logout Token (OpenID Connect Back-Channel Logout 1.0 §2.4): a JWT signed like our ID tokens.

Claims: iss, aud (the client), iat, exp (short), jti, events {BACKCHANNEL_EVENT: {}}, sub and sid; never a
nonce (§2.4: it MUST NOT have one, so a Logout Token cannot pass for an ID token); header typ `logout+jwt`
(§2.4 and RFC 8725 §3.11: explicit typing)."""
from __future__ import annotations

from datetime import datetime

from joserfc import jwt

from idp.security.secrets import new_token

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
TYPE = "logout+jwt"
LIFETIME_SECONDS = 120      # made at each delivery attempt: a retry sends a fresh one


def logout_token_claims(*, issuer: str, client_id: str, subject: str, sid: str, at: datetime) -> dict:
    """The claims of one Logout Token for `client_id` (both `sub` and `sid`: §2.4 allows both)."""
    issued = int(at.timestamp())
    return {"iss": issuer, "aud": client_id, "iat": issued, "exp": issued + LIFETIME_SECONDS,
            "jti": new_token(16), "sub": subject, "sid": sid, "events": {BACKCHANNEL_EVENT: {}}}


def encode_logout_token(claims: dict, key: object, alg: str) -> str:
    """Sign `claims` with our ID token signing key for `alg` (the client's id_token_signed_response_alg)."""
    header = {"alg": alg, "kid": key.kid, "typ": TYPE}  # type: ignore[attr-defined]
    return jwt.encode(header, claims, key, algorithms=[alg])
