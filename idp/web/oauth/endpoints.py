"""Back-channel endpoints: token (RFC 6749 §3.2), userinfo (OIDC Core §5.3), revocation, introspection."""
from __future__ import annotations

from flask import Response, current_app, jsonify, request

from idp.oauth import tokens
from idp.oauth.claims import user_claims
from idp.web.context import db

from . import backchannel, bp


def _server():  # noqa: ANN202
    return current_app.extensions["authlib.server"]


@bp.post("/token")
def token() -> Response:
    return backchannel.refusal() or _server().create_token_response()


@bp.post("/revoke")
def revoke() -> Response:
    return backchannel.refusal() or _server().create_endpoint_response("revocation")


@bp.post("/introspect")
def introspect() -> Response:
    return backchannel.refusal() or _server().create_endpoint_response("introspection")


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """Claims about the token's user, by the token's scope; RFC 6750 errors otherwise."""
    if _bearer_header() and request.method == "POST" and "access_token" in request.form:
        return _unauthorized("invalid_request", "Send the access token one way only, not both in the header and the body.", 400)
    value = _bearer()
    if value is None:
        return _unauthorized("invalid_request", "Send the access token as 'Authorization: Bearer <token>'.")
    row = tokens.find_access_token(db().connection(), value)
    if row is None:
        return _unauthorized("invalid_token", "The access token is not valid (expired, revoked or unknown).")
    if "openid" not in row.scope.split():
        return _unauthorized("insufficient_scope", "The access token was not issued with the 'openid' scope.", 403)
    response = jsonify(user_claims(row, row.scope))
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_header() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _bearer() -> str | None:
    if request.method == "POST" and request.form.get("access_token"):
        return _bearer_header() or request.form["access_token"]
    return _bearer_header()


def _unauthorized(error: str, description: str, status: int = 401) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    return response
