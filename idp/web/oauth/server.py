"""authlib's Flask AuthorizationServer wired to our storage, grants and endpoints."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidScopeError, OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, g
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp import clients
from idp.adminapi.scopes import requested_problem
from idp.browser import session_policy
from idp.clock import now
from idp.config import AppConfig
from idp.models import Client, Token, UsedNonce
from idp.models.client import ClientAccessToken
from idp.oauth import client_auth, client_tokens, tokens
from idp.oauth.client_credentials import ApiTokenGenerator, make_client_credentials_grant
from idp.oauth.grants import OpenIDCode, PkceS256, bearer_tokens, make_code_grant, make_refresh_grant, random_token
from idp.web.context import db, services

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


@dataclass(frozen=True)
class AuthenticatedLogin:
    """The signed-in person as the authorization endpoint hands them to authlib."""

    user: object
    auth_time: int
    amr: tuple[str, ...]
    acr: str | None
    sid: str


class AuthorizationServer(FlaskAuthorizationServer):
    """authlib's Flask server, able to resume a saved authorization request after the sign-in."""

    def create_oauth2_request(self, request):  # noqa: ANN001, ANN201
        if isinstance(request, OAuth2Request):   # a stored request (idp.signin.authorization), already built
            return request
        return super().create_oauth2_request(request)

    def validate_requested_scope(self, scope: str | None) -> None:
        """A scope is required; values we do not know are ignored (OpenID Connect Core §3.1.2.1: they
        SHOULD be), as are those the client may not ask for (Client.get_allowed_scope drops them)."""
        if not scope or not scope.split():
            raise InvalidScopeError("Send a scope, for example 'openid email'.")


def query_client(client_id: str) -> Client | None:
    """The active client; looked up once per request (authlib asks several times while validating)."""
    client = clients.by_client_id(db(), client_id)
    return client if client is not None and client.is_active else None


def save_token(token: dict, request) -> None:  # noqa: ANN001
    """Store digests of what authlib generated, with where it came from (code, family, session)."""
    row = tokens.issued_row(token, client_id=request.client.client_id, user_id=request.user.id,
                            refresh_ttl=services().config.tokens.refresh_token_ttl,
                            code=getattr(request, "authorization_code", None),
                            previous=getattr(request, "refresh_token", None))
    tokens.insert_issued(db(), row)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | ClientAccessToken | None:
        return (tokens.find_any_token(db(), token_string, token_type_hint)
                or client_tokens.find(db(), token_string))

    def revoke_token(self, token: Token | ClientAccessToken, request) -> None:  # noqa: ANN001
        """Revoking a refresh token ends its family; an access token ends alone (RFC 7009 §2.1)."""
        if isinstance(token, ClientAccessToken):
            token.revoked_at = token.revoked_at or now()
        elif token.refresh_token_digest and request.form.get("token_type_hint") != "access_token":
            tokens.revoke_tokens(db(), Token.family_id == token.family_id)
        else:
            tokens.revoke_tokens(db(), Token.id == token.id)


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for the client's own tokens; `active` says whether the presented value (access or
    refresh token) would be accepted now: a rotated refresh token is inactive even while its access
    token still lives, and the other way round."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | ClientAccessToken | None:
        found = tokens.find_token_and_kind(db(), token_string, token_type_hint)
        if found is None:
            return client_tokens.find(db(), token_string)    # an administration API token, or None
        row, kind = found
        row.presented_kind = kind  # not a column: which of the row's two values was presented
        return row

    def check_permission(self, token: Token | ClientAccessToken, client: Client, request) -> bool:  # noqa: ANN001
        if isinstance(token, ClientAccessToken):
            return token.client_pk == client.id
        return token.client_id == client.client_id

    def create_introspection_payload(self, token: Token | ClientAccessToken | None) -> dict:
        if isinstance(token, ClientAccessToken):
            return self.introspect_client_token(token)
        if token is None or not tokens.is_live(token, token.presented_kind):
            return {"active": False}
        return self.introspect_token(token)

    def introspect_client_token(self, token: ClientAccessToken) -> dict:
        """A client credentials token: no user (no `sub`); inactive once its client is disabled."""
        if token.is_revoked() or token.is_expired() or not token.client.is_active:
            return {"active": False}
        return {"active": True, "client_id": token.client.client_id, "scope": token.scope, "token_type": "Bearer",
                "aud": token.client.client_id, "iss": services().config.issuer,
                "exp": int(token.expires_at.timestamp()), "iat": int(token.issued_at.timestamp())}

    def introspect_token(self, token: Token) -> dict:
        refresh = token.presented_kind == "refresh_token"
        expires = token.refresh_expires_at if refresh else token.access_expires_at
        payload = {"active": True, "client_id": token.client_id, "scope": token.scope,
                   "sub": token.user.subject, "aud": token.client_id, "iss": services().config.issuer,
                   "exp": int(expires.timestamp()), "iat": int(token.issued_at.timestamp())}
        if not refresh:
            payload["token_type"] = "Bearer"
        return payload


class PrivateKeyJwt(JWTBearerClientAssertion):
    """private_key_jwt client authentication (RFC 7523 §2.2); `jti` replay guard in the database."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, token_url: str) -> None:
        super().__init__(validate_jti=True)
        self._audience = token_url

    def get_audiences(self) -> list[str]:
        return [self._audience, self._audience.rsplit("/", 1)[0]]

    def __call__(self, query_client, request):  # noqa: ANN001, ANN204
        """authlib's check, bounded: an assertion that is too large, or that the JSON parser cannot read
        (deep nesting ends in RecursionError), is invalid_client rather than a server error."""
        problem = client_auth.assertion_problem(request.form.get("client_assertion"))
        if problem:
            raise InvalidClientError(description=problem)
        try:
            return super().__call__(query_client, request)
        except (RecursionError, ValueError, TypeError):
            raise InvalidClientError(description="The client assertion cannot be read.") from None

    def resolve_client_public_key(self, client: Client):  # noqa: ANN201
        try:
            return KeySet.import_key_set(client.jwks or {"keys": []})
        except (JoseError, ValueError, KeyError, TypeError):
            raise InvalidClientError(description="This client has no usable keys for private_key_jwt.") from None

    def validate_jti(self, claims: dict, jti: str) -> bool:
        key = f"jti:{claims.get('iss')}:{jti}"
        exp = claims.get("exp") or (now().timestamp() + 600)
        try:
            with db().begin_nested():
                db().add(UsedNonce(key=key[:200], expires_at=datetime.fromtimestamp(exp, tz=UTC)))
        except IntegrityError:
            return False
        return True


class Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def create_server(app: Flask, config: AppConfig) -> AuthorizationServer:
    """The authorization server with code+PKCE+OIDC, rotating refresh and client credentials grants,
    revocation, introspection."""
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", bearer_tokens(config.tokens.access_token_ttl))

    def issues_refresh(client: Client, scope: str) -> bool:
        return client.issue_refresh_tokens or "offline_access" in scope.split() or config.tokens.refresh_for_all_clients

    def signing_key(alg: str):  # noqa: ANN202
        """Chosen once per request: the ID token header's kid and its signature come from the same key."""
        chosen = g.setdefault("idp_signing_keys", {})
        if alg not in chosen:
            chosen[alg] = services().keys.signing_key(db, alg)
        return chosen[alg]

    code_grant = make_code_grant(db, config.tokens.authorization_code_ttl, issues_refresh)
    server.register_grant(code_grant, [PkceS256(required=True),
                                       OpenIDCode(config.issuer, signing_key, config.tokens.id_token_ttl,
                                                  config.tokens.signing_alg)])
    server.register_grant(make_refresh_grant(db, lambda: services().config, session_policy.refuse_outdated_family))
    server.register_grant(make_client_credentials_grant(db, requested_problem))   # the administration API (idp.web.adminapi)
    server.register_token_generator("client_credentials", ApiTokenGenerator(
        random_token, None, lambda client, grant_type: config.tokens.access_token_ttl))
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD,
                                       PrivateKeyJwt(f"{config.issuer}/token"))
    server.register_extension(Issuer(config.issuer))
    return server
