"""authlib grants with our storage: authorization code (+PKCE S256, OIDC) and rotating refresh tokens.

RFC 6749 §4.1 and §6, RFC 7636, RFC 9700 §2.1.1 and §4.14, OpenID Connect Core §3.1."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode as _OpenIDCode
from authlib.oidc.core import UserInfo
from sqlalchemy.orm import Session

from idp.clock import now
from idp.models import AuthorizationCode, Token, User
from idp.oauth import tokens
from idp.oauth.claims import user_claims
from idp.security.secrets import digest, new_token

if TYPE_CHECKING:
    from idp.config import AppConfig

DbProvider = Callable[[], Session]
ConfigProvider = Callable[[], "AppConfig"]
FamilyCheck = Callable[[Session, "AppConfig", Token], None]   # raises invalid_grant to refuse


class PkceS256(CodeChallenge):
    """PKCE with S256 only: required for public clients and for clients with require_pkce."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri) -> None:  # noqa: ANN001
        data = grant.request.payload.data
        client = grant.request.client
        if not data.get("code_challenge") and (client.is_public or client.require_pkce):
            raise InvalidRequestError("This client must use PKCE: send code_challenge with "
                                      "code_challenge_method=S256.", redirect_uri=redirect_uri)
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 ('plain' is not accepted).",
                                      redirect_uri=redirect_uri)
        return super().validate_code_challenge(grant, redirect_uri)


def make_code_grant(db: DbProvider, code_ttl: int,
                    issues_refresh: Callable[[object, str], bool]) -> type[grants.AuthorizationCodeGrant]:
    """The authorization code grant class, bound to a session provider and the config."""

    class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
        AUTHORIZATION_CODE_LENGTH = 43

        def save_authorization_code(self, code: str, request) -> None:  # noqa: ANN001
            """The code's row, inserted at once (Core); the session's pending changes (a sign-in's new browser
            session) stay pending for the caller's flush. Its only lock is the foreign key's share lock on the user
            row, which a sign-in holds more strongly already (it updated that row)."""
            data = request.payload.data
            login = request.user  # an AuthenticatedLogin (see idp.web.oauth)
            current = now()
            tokens.insert_code(
                db(), code_digest=digest(code), client_id=request.client.client_id, user_id=login.user.id,
                redirect_uri=request.payload.redirect_uri or "", scope=request.scope or "",  # allowed part only
                nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=login.auth_time, amr=list(login.amr), acr=login.acr, sid=login.sid,
                created_at=current, expires_at=current + timedelta(seconds=code_ttl), used_at=None)

        def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:  # noqa: ANN001
            """The code, claimed; None (invalid_grant) also when its redirect URI is no longer registered."""
            row = tokens.consume_code(db(), code, client.client_id)
            if row is not None and row.redirect_uri and not client.check_redirect_uri(row.redirect_uri):
                return None
            return row

        def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
            """Codes are kept (marked used) so a replay can revoke what they issued."""

        def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
            user = authorization_code.user
            return user if user.is_active else None

        def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,  # noqa: ANN001
                           include_refresh_token: bool = True) -> dict:
            include = issues_refresh(self.request.client, scope or "")
            return super().generate_token(user=user, scope=scope, grant_type=grant_type,
                                          expires_in=expires_in, include_refresh_token=include)

    return AuthorizationCodeGrant


def make_refresh_grant(db: DbProvider, config: ConfigProvider,
                       check_family: FamilyCheck) -> type[grants.RefreshTokenGrant]:
    """The refresh token grant: every use rotates; a reused token revokes its whole family. `check_family`
    raises invalid_grant (after revoking the family) when the sign-in behind a token no longer satisfies the
    person's current policy (idp.browser.session_policy.refuse_outdated_family)."""

    class RefreshTokenGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
        INCLUDE_NEW_REFRESH_TOKEN = True

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            client_id = self.request.client.client_id if self.request.client else self.request.payload.client_id
            row = tokens.find_refresh_token(db(), refresh_token, client_id)
            if row is not None:
                check_family(db(), config(), row)
            return row

        def authenticate_user(self, refresh_token: Token) -> User | None:
            if not tokens.mark_rotated(db(), refresh_token):
                return None
            user = refresh_token.user
            return user if user.is_active else None

        def revoke_old_credential(self, refresh_token: Token) -> None:
            """Already marked used in authenticate_user (atomically, before the new token exists)."""

    return RefreshTokenGrant


class OpenIDCode(_OpenIDCode):
    """OIDC for the code grant: ID token signed with our keys, claims from our users."""

    def __init__(self, issuer: str, signing_key: Callable[[str], object], id_token_ttl: int,
                 default_alg: str) -> None:
        super().__init__(require_nonce=False)
        self.issuer = issuer
        self._signing_key = signing_key
        self.DEFAULT_EXPIRES_IN = id_token_ttl
        self._default_alg = default_alg

    def exists_nonce(self, nonce: str, request) -> bool:  # noqa: ANN001
        return False  # nonces are the client's replay check; codes are single use here

    def get_client_algorithm(self, client) -> str:  # noqa: ANN001
        return client.id_token_signed_response_alg or self._default_alg

    def resolve_client_private_key(self, client):  # noqa: ANN001, ANN201
        return self._signing_key(self.get_client_algorithm(client))

    def get_encode_header(self, client) -> dict:  # noqa: ANN001
        alg = self.get_client_algorithm(client)
        return {"alg": alg, "kid": self._signing_key(alg).kid, "typ": "JWT"}

    def get_client_claims(self, client) -> dict:  # noqa: ANN001
        issued = int(now().timestamp())  # idp.clock, like auth_time (authlib would use time.time())
        return {"iss": self.issuer, "aud": [client.client_id], "azp": client.client_id,
                "iat": issued, "exp": issued + self.DEFAULT_EXPIRES_IN}

    def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        sid = getattr(authorization_code, "public_sid", None)   # loaded with the code (idp.oauth.tokens)
        if sid:
            claims["sid"] = sid
        return claims

    def generate_user_info(self, user, scope: str) -> UserInfo:  # noqa: ANN001
        return UserInfo(user_claims(user, scope))


def random_token(*_args, **_kwargs) -> str:  # noqa: ANN002, ANN003
    return new_token()


def bearer_tokens(access_token_ttl: int) -> BearerTokenGenerator:
    """The token endpoint's access and refresh token values (random_token) and lifetime, for the authlib
    server (idp.web.oauth.server) and the refresh answered before it (idp.oauth.refresh)."""
    return BearerTokenGenerator(random_token, random_token, lambda client, grant_type: access_token_ttl)
