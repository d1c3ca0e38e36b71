"""SCIM over HTTP (RFC 7644 §3.1, §3.12): authentication with a provisioning token, the rate limit per
token, SCIM error responses, JSON bodies, and the scoped context every view works in."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Response, g, json, request
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from idp.clock import now
from idp.models import ScimToken
from idp.provisioning import tokens
from idp.security.secrets import digest
from idp.web.context import client_ip, db, drop_database_session, services
from idp.web.rate_limits import api_refusal

from . import bp

if TYPE_CHECKING:
    from idp.provisioning.context import ScimContext

# scim2-models and pydantic are imported inside the functions (see views.py): not by every worker.
MEDIA_TYPE = "application/scim+json"        # RFC 7644 §8.1 (idp.provisioning.schema.MEDIA_TYPE)
log = logging.getLogger("idp.scim")


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(status: int, detail: str, scim_type: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    from scim2_models import Error

    error = Error(status=status, scim_type=scim_type, detail=detail)
    return scim_response(error.model_dump(), status, headers)


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@bp.before_request
def _authenticate() -> Response | None:
    """Rate limit (per address and per presented token), then the token: 401 unless it is live."""
    from scim2_models import UnauthorizedException

    presented = _bearer()
    refused = _rate_limited(presented)
    if refused is not None:
        return refused
    token = tokens.authenticate(db(), presented, now=now())
    if token is None:
        raise UnauthorizedException(detail="a valid provisioning token is required (Authorization: Bearer ...)")
    g.scim_token = token
    return None


def _rate_limited(presented: str | None) -> Response | None:
    token_key = digest(presented) if presented else None
    refused = api_refusal("scim", [("ip", client_ip() or "unknown"), ("token", token_key)], "SCIM")
    if refused is None:
        return None
    status, retry_after = refused
    detail = ("the service cannot check its rate limits right now; retry shortly" if status == 503
              else f"too many requests; retry after {retry_after} seconds")
    return error_response(status, detail, headers={"Retry-After": str(retry_after)})


def context() -> ScimContext:
    from idp.provisioning.context import ScimContext

    token: ScimToken = g.scim_token
    config = services().config
    return ScimContext(db=db(), services=services(), organisation_id=token.organisation_id,
                       actor=tokens.actor_for(token, client_ip(), request.headers.get("User-Agent")),
                       base_url=config.issuer.rstrip("/") + bp.url_prefix, now=now())


def body() -> Any:
    """The request's JSON body (application/scim+json or application/json); invalidSyntax otherwise."""
    from scim2_models import SCIMException

    data = request.get_json(force=True, silent=True)
    if data is None:
        error = SCIMException(detail="the request body must be JSON")
        error.scim_type = "invalidSyntax"
        raise error
    return data


@bp.errorhandler(Exception)
def _scim_error(error: Exception) -> Response:
    """A SCIMException: nothing of the refused request is kept. (Registered for Exception, so that
    scim2-models need not be imported to register it; any other exception goes on as if unhandled.)"""
    from scim2_models import SCIMException

    if not isinstance(error, SCIMException):
        raise error
    db().rollback()
    headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if error.status == 401 else None
    return error_response(error.status, error.detail, error.scim_type or None, headers)


@bp.errorhandler(IntegrityError)
def _conflict(error: IntegrityError) -> Response:
    """Two platforms (or two workers) created the same thing at once: the second one is told so."""
    db().rollback()
    return error_response(409, "the resource was changed at the same time; it exists already", "uniqueness")


@bp.errorhandler(OperationalError)
def _database_down(error: OperationalError) -> Response:
    log.error("database unavailable during SCIM %s %s: %s", request.method, request.path, type(error).__name__)
    drop_database_session()       # the connection is dead: no commit after this response
    return error_response(503, "the service cannot reach its database; nothing was changed, retry shortly",
                          headers={"Retry-After": "30"})


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    db().rollback()
    return error_response(error.code or 500, error.description or error.name)
