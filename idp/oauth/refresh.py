"""The refresh grant's success path (RFC 6749 §6, rotation: RFC 9700 §4.14) without Flask or authlib's request machinery."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from idp.models import Client, Token
from idp.oauth import tokens
from idp.oauth.grants import bearer_tokens

if TYPE_CHECKING:
    from idp.config import AppConfig

# idp.browser.session_policy.family_still_counts (passed in: idp.browser depends on idp.oauth, not back)
SignInCheck = Callable[[Session, "AppConfig", Token], bool]

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPE = "refresh_token"


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """How a client authenticated: `method` is client_secret_basic or client_secret_post."""

    client_id: str
    secret: str
    method: str


def authenticates(client: Client, credentials: ClientSecret) -> bool:
    """What authlib's client_secret_basic / client_secret_post check and the refresh grant ask of the client:
    active, allowed that method at the token endpoint, the secret (or the previous one while it lasts) right,
    allowed the grant. A client registered for another method (private_key_jwt) is never answered here."""
    return (credentials.method in SECRET_METHODS and client.token_endpoint_auth_method in SECRET_METHODS
            and client.is_active and client.client_id == credentials.client_id
            and client.check_endpoint_auth_method(credentials.method, "token")
            and client.check_client_secret(credentials.secret)
            and client.check_grant_type(GRANT_TYPE))


def refresh(db: Session, config: AppConfig, credentials: ClientSecret, refresh_token: str,
            sign_in_counts: SignInCheck) -> dict | None:
    """A good refresh done in `db`'s transaction, uncommitted: the old token rotated (conditional UPDATE) and
    the new one inserted; the token response body authlib would send. None when anything is not plainly
    good (unknown, reused, revoked or expired token, wrong client or secret, a sign-in the person's current
    policy refuses: `sign_in_counts`): the caller must roll back and let the authlib path answer (and revoke,
    audit) as always."""
    found = tokens.find_refresh_token_and_client(db, refresh_token, credentials.client_id)
    if found is None:
        return None
    row, client = found
    if not authenticates(client, credentials) or not sign_in_counts(db, config, row):
        return None
    if not tokens.mark_rotated(db, row) or not row.user.is_active:
        return None
    body = bearer_tokens(config.tokens.access_token_ttl).generate(
        GRANT_TYPE, client, user=row.user, scope=row.get_scope(), include_refresh_token=True)
    tokens.insert_issued(db, tokens.issued_row(body, client_id=client.client_id, user_id=row.user_id,
                                               refresh_ttl=config.tokens.refresh_token_ttl, previous=row))
    return body
