"""The client credentials grant (RFC 6749 §4.4) for the administration API: confidential clients of one
organisation, only for the API scopes an administrator granted them (anything else: invalid_scope)."""
from __future__ import annotations

from collections.abc import Callable

from authlib.oauth2.rfc6749 import InvalidScopeError, UnauthorizedClientError, grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator

from idp.oauth import client_tokens

from .grants import DbProvider

ScopeCheck = Callable[[list[str], frozenset[str]], str | None]   # (requested, granted) -> why refused, or None

NOT_AN_API_CLIENT = ("This client may not use grant_type=client_credentials: it must be a confidential client of "
                     "one organisation with administration API scopes granted by an administrator.")


def make_client_credentials_grant(db: DbProvider, scope_problem: ScopeCheck) -> type[grants.ClientCredentialsGrant]:
    """The grant class, bound to a session provider and the API's scope rule
    (idp.adminapi.scopes.requested_problem)."""

    class ClientCredentialsGrant(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

        def validate_token_request(self) -> None:
            client = self.authenticate_token_endpoint_client()
            if not client.check_grant_type(self.GRANT_TYPE):
                raise UnauthorizedClientError(NOT_AN_API_CLIENT)
            self.request.client = client
            self.validate_requested_scope()

        def validate_requested_scope(self) -> None:
            """Every requested scope must be granted to the client; a scope must be asked for (no default:
            a token carries only what the client says it needs)."""
            requested = scope_to_list(self.request.payload.scope) or []
            problem = scope_problem(requested, self.request.client.api_scopes)
            if problem:
                raise InvalidScopeError(problem)

        def save_token(self, token: dict) -> None:
            client_tokens.save(db(), self.request.client, token["access_token"], token.get("scope", ""),
                               token["expires_in"])

    return ClientCredentialsGrant


class ApiTokenGenerator(BearerTokenGenerator):
    """Bearer tokens whose scope is the requested API scopes, validated by the grant (a client's
    `allowed_scopes` are the OpenID Connect ones, which an API token never carries)."""

    @staticmethod
    def get_allowed_scope(client, scope: str | None) -> str:  # noqa: ANN001
        return " ".join(dict.fromkeys(scope_to_list(scope) or []))
