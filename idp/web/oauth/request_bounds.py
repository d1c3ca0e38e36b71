"""Flask side of idp.oauth.request_limits: the authorization request's parameters, checked before anything else."""
from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import Response, render_template, request

from idp.oauth import request_limits

from .server import query_client


def _items() -> list[tuple[str, str]]:
    """Every parameter as sent: the query, and the form body of a POST (a name in both counts twice)."""
    items = list(request.args.items(multi=True))
    if request.method == "POST":
        items += list(request.form.items(multi=True))
    return items


def refusal() -> InvalidRequestError | None:
    """None when the request is within bounds. Otherwise an invalid_request error whose `redirect_uri` is
    set only when the client is known and the redirect URI is one of its own (then the client is told);
    without it the person gets a page (never a redirect to an address we have not verified)."""
    items = _items()
    description = request_limits.problem(items)
    if description is None:
        return None
    error = InvalidRequestError(description=description)
    client_id = request_limits.single_value(items, "client_id")
    redirect_uri = request_limits.single_value(items, "redirect_uri")
    client = query_client(client_id) if client_id else None
    if client is not None and redirect_uri and client.check_redirect_uri(redirect_uri):
        error.redirect_uri, error.state = redirect_uri, request_limits.single_value(items, "state")
    return error


def page(error: InvalidRequestError) -> Response:
    """The 400 page for a refusal that cannot go back to the client."""
    body = render_template("error.html", title="This sign-in request is not valid",
                           message=f"{error.description} Go back to the application and try again.")
    return Response(body, status=400)
