"""Back-channel requests (/token, /revoke, /introspect) must be unambiguous before authlib reads them:
no parameter twice (RFC 6749 §3.2, in the body or the query), one client authentication method (§2.3),
a client assertion of bounded size (RFC 7523). A refused request changes nothing (the code stays usable)."""
from __future__ import annotations

from flask import Response, jsonify, request

from idp.oauth import client_auth
from idp.oauth.request_limits import repeated


def _json_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def refusal() -> Response | None:
    """The error response for an ambiguous or oversized request; None when the request may go on."""
    items = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    twice = repeated(items)
    if twice:
        return _json_error("invalid_request", f"Parameters must not be repeated: {', '.join(twice)[:200]}.")
    problem = client_auth.methods_problem(set(request.form), request.headers.get("Authorization", ""))
    if problem:
        return _json_error("invalid_request", problem)
    problem = client_auth.assertion_problem(request.form.get("client_assertion"))
    if problem:
        return _json_error("invalid_client", problem, 401)
    return None
