"""Validating an upstream provider's ID token (OpenID Connect Core §3.1.3.7): the signature against the
provider's published keys (fetched again once for an unknown `kid`), `iss` (Entra ID multi-tenant: the
`{tenantid}` template filled with the token's `tid`, which must be allowed), `aud`/`azp`, `exp`, `iat`,
`nonce` (authlib's CodeIDToken over joserfc), and `auth_time` when a fresh sign-in was asked for.
Each refusal is a FederationError whose `problem` names what was wrong (wrong_issuer, expired, ...)."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from .discovery import DIRECTORY, TENANT_PLACEHOLDER, Directory, Metadata
from .errors import FederationError
from .providers import Provider

ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class UpstreamSignIn:
    """What a validated ID token says: who (issuer + subject) and how they signed in (amr, acr)."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    amr: tuple[str, ...]
    acr: str | None
    auth_time: int | None
    tenant: str | None = None


def _header(token: str) -> dict[str, Any]:
    try:
        head = token.split(".")[0]
        value = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, IndexError):
        value = None
    if not isinstance(value, dict):
        raise _rejected("malformed_id_token", "the ID token is not a JWS")
    return value


def _rejected(problem: str, detail: str, provider: Provider | None = None) -> FederationError:
    who = provider.display_name if provider else "The identity provider"
    return FederationError(f"The sign-in from {who} could not be verified, so it was refused. Nothing was "
                           "changed. Please start again, or contact your administrator if it keeps happening.",
                           problem, detail)


def _verify_signature(provider: Provider, metadata: Metadata, directory: Directory, token: str) -> jwt.Token:
    header = _header(token)
    allowed = [a for a in metadata.signing_algs if a in ASYMMETRIC_ALGS] or ["RS256"]
    alg = header.get("alg")
    if alg not in allowed:
        raise _rejected("bad_signature", f"alg {str(alg)[:20]!r} is not accepted (allowed: {', '.join(allowed)})",
                        provider)
    kid = header.get("kid")
    keys = directory.key_for(provider, metadata, kid if isinstance(kid, str) else None)
    candidates = [keys] if kid else [KeySet([k]) for k in keys.keys] or [keys]
    failure: Exception | None = None
    for candidate in candidates:
        try:
            return jwt.decode(token, candidate, algorithms=allowed)
        except InvalidKeyIdError:
            raise _rejected("unknown_kid", f"no key {kid!r} at {metadata.jwks_uri}, even after fetching it again",
                            provider) from None
        except BadSignatureError as err:
            failure = err
        except (JoseError, ValueError) as err:
            raise _rejected("malformed_id_token", f"{err.__class__.__name__}: {err}"[:300], provider) from None
    raise _rejected("bad_signature", f"the signature does not match the provider's key ({failure})"[:300], provider)


def _expected_issuer(provider: Provider, metadata: Metadata, claims: dict[str, Any]) -> tuple[str, str | None]:
    if TENANT_PLACEHOLDER not in metadata.issuer:
        return metadata.issuer, None
    tenant = claims.get("tid")
    if not isinstance(tenant, str) or not tenant:
        raise _rejected("wrong_issuer", "multi-tenant provider: the ID token has no tid", provider)
    if tenant not in provider.allowed_tenants:
        raise FederationError(f"Your organisation's directory (tenant {tenant[:40]}) is not allowed to sign in "
                              f"here through {provider.display_name}. Nothing was changed.", "tenant_not_allowed",
                              f"tid {tenant[:60]} is not in allowed_tenants")
    return metadata.issuer.replace(TENANT_PLACEHOLDER, tenant), tenant


def _check_fresh(provider: Provider, auth_time: float | None, after: int, now: int) -> None:
    """The provider signed the person in again, as asked (prompt=login / max_age)."""
    again = (f"{provider.display_name} did not ask you to sign in again, as this application requires. "
             "Nothing was changed. Please start again.")
    if auth_time is None:
        raise FederationError(again, "missing_auth_time",
                              "a fresh sign-in was asked for (prompt=login or max_age) and the ID token has no "
                              "auth_time")
    if auth_time < after - LEEWAY_SECONDS:
        raise FederationError(again, "not_reauthenticated", f"auth_time {int(auth_time)} is before {after}")
    if auth_time > now + LEEWAY_SECONDS:
        raise _rejected("invalid_claims", f"auth_time {int(auth_time)} is in the future (now {now})", provider)


_CLAIM_PROBLEMS = {"iss": "wrong_issuer", "aud": "wrong_audience", "azp": "wrong_audience",
                   "nonce": "wrong_nonce", "exp": "expired", "iat": "not_yet_valid", "nbf": "not_yet_valid"}


def validate_id_token(provider: Provider, metadata: Metadata, token: str, *, nonce: str, now: datetime,
                      authenticated_after: int | None = None,
                      directory: Directory = DIRECTORY) -> UpstreamSignIn:
    """The verified sign-in in `token`, or FederationError naming what was wrong (for the audit log).
    `authenticated_after` (prompt=login or max_age was asked): the token MUST carry auth_time (OIDC Core
    §3.1.2.1, §2: REQUIRED after max_age; without it nothing shows the provider did sign the person in
    again), and it must not be before then (less LEEWAY_SECONDS of clock skew) nor in the future."""
    verified = _verify_signature(provider, metadata, directory, token)
    claims = dict(verified.claims)
    issuer, tenant = _expected_issuer(provider, metadata, claims)
    options = {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": provider.client_id},
               "sub": {"essential": True}, "exp": {"essential": True}, "iat": {"essential": True}}
    id_token = CodeIDToken(claims, verified.header, options, params={"nonce": nonce, "client_id": provider.client_id})
    try:
        id_token.validate(now=int(now.timestamp()), leeway=LEEWAY_SECONDS)
    except ExpiredTokenError:
        raise _rejected("expired", f"exp {claims.get('exp')} is before now {int(now.timestamp())}", provider) from None
    except (InvalidClaimError, MissingClaimError) as err:
        names = err.claim.split(",")
        problem = next((_CLAIM_PROBLEMS[n] for n in names if n in _CLAIM_PROBLEMS), "invalid_claims")
        shown = {n: str(claims.get(n))[:120] for n in names}
        kind = "missing" if isinstance(err, MissingClaimError) else "wrong"
        raise _rejected(problem, f"{kind} claim {err.claim}: got {shown}", provider) from None
    raw_auth_time = claims.get("auth_time")
    auth_time = raw_auth_time if isinstance(raw_auth_time, (int, float)) and not isinstance(raw_auth_time, bool) \
        else None
    if authenticated_after is not None:
        _check_fresh(provider, auth_time, authenticated_after, int(now.timestamp()))
    amr = claims.get("amr")
    acr = claims.get("acr")
    return UpstreamSignIn(issuer=issuer, subject=str(claims["sub"]), claims=claims,
                          amr=tuple(dict.fromkeys(v for v in amr if isinstance(v, str)))
                          if isinstance(amr, list) else (),
                          acr=acr if isinstance(acr, str) else None,
                          auth_time=int(auth_time) if auth_time is not None else None, tenant=tenant)
