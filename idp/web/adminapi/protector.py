"""The resource protector of the administration API (RFC 6750): a bearer token of the client credentials
grant in the Authorization header, checked by authlib's BearerTokenValidator; the rate limit per address and
per client; the scope each view needs (403 insufficient_scope); every call audited with the client as actor."""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from flask import Response, g, request

from idp import audit
from idp.adminapi.access import ApiCaller, caller_for
from idp.models.client import ClientAccessToken
from idp.oauth import client_tokens
from idp.web.context import client_ip, db, services
from idp.web.rate_limits import api_refusal

from . import bp
from .problems import ApiProblem, problem

log = logging.getLogger("idp.adminapi")

REALM = "idp-admin-api"
PUBLIC = {"adminapi.openapi"}     # the OpenAPI description needs no token
AUDIT_EVENT = "admin_api_request"


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> ClientAccessToken | None:
        return client_tokens.find(db(), token_string)


VALIDATOR = TokenValidator(realm=REALM)


def caller() -> ApiCaller:
    return g.api_caller


def _challenge(error: str | None = None, description: str | None = None, **extra: str) -> dict[str, str]:
    """RFC 6750 §3: no error code when the request had no token at all."""
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    parts += [f'{key}="{value}"' for key, value in extra.items()]
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


def _bearer() -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or " " in value.strip():
        detail = "Send the access token as 'Authorization: Bearer <token>'."
        raise ApiProblem(400, detail, headers=_challenge("invalid_request", detail), error="invalid_request")
    return value.strip()


@bp.before_request
def _authenticate() -> Response | None:
    if request.endpoint in PUBLIC:
        return _rate_limited(None)
    presented = _bearer()
    refused = _rate_limited(presented)
    if refused is not None:
        return refused
    token = client_tokens.find(db(), presented) if presented else None
    if presented is None:
        raise ApiProblem(401, "This API needs an access token of the client credentials grant: "
                              "'Authorization: Bearer <token>'.", headers=_challenge())
    try:
        VALIDATOR.validate_token(token, None, request)
    except InvalidTokenError:
        token = None
    found = caller_for(token, client_ip(), request.headers.get("User-Agent")) if token is not None else None
    if found is None:
        detail = "The access token is not valid (expired, revoked or unknown, or its client may no longer use the API)."
        raise ApiProblem(401, detail, headers=_challenge("invalid_token", detail), error="invalid_token")
    g.api_caller = found
    return None


def _rate_limited(presented: str | None) -> Response | None:
    """Counted before the request's own database session opens (on SQLite a reader would hold up the
    counters' write): the client of the presented token is looked up on a connection of its own."""
    client_id = client_tokens.client_id_of(services().database.engine, presented) if presented else None
    refused = api_refusal("adminapi", [("ip", client_ip() or "unknown"), ("client", client_id)], "administration API")
    if refused is None:
        return None
    status, retry_after = refused
    detail = ("The service cannot check its rate limits right now; nothing was changed, retry shortly."
              if status == 503 else f"Too many requests from this client or address; retry after {retry_after} seconds.")
    return problem(status, detail, headers={"Retry-After": str(retry_after)})


def requires(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The view runs only for a caller holding `scope` (granted now, and in the token); 403 otherwise."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.api_scope = scope
            if not caller().may(scope):
                detail = f"This needs the scope {scope!r}: grant it to the client, then ask for a token with it."
                raise ApiProblem(403, detail, headers=_challenge("insufficient_scope", detail, scope=scope),
                                 error="insufficient_scope", scope=scope)
            return view(*args, **kwargs)
        wrapper.required_scope = scope     # read by the OpenAPI test
        return wrapper
    return decorate


@bp.after_request
def _audit_call(response: Response) -> Response:
    """Every authenticated call, read or write, allowed or refused, is in the organisation's audit log."""
    who: ApiCaller | None = g.get("api_caller")
    if who is not None:
        details = {"method": request.method, "path": request.path, "query": request.query_string.decode()[:500],
                   "status": response.status_code, "client_id": who.client.client_id, "scope": g.get("api_scope")}
        audit.record(db(), AUDIT_EVENT, who.actor, organisation_id=who.organisation_id, target=who.client.client_id,
                     outcome="success" if response.status_code < 400 else "failure", details=details)
    return response
