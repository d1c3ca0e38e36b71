"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): only registered return addresses."""
from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Response, redirect, render_template, request
from flask_login import logout_user

from idp.browser import sessions
from idp.models import Client
from idp.web.context import db
from idp.web.login import session_state

from . import bp
from .id_token_hint import hinted_claims


@bp.route("/logout", methods=["GET", "POST"])
def end_session() -> Response:
    params = request.values
    claims = hinted_claims(params["id_token_hint"]) if params.get("id_token_hint") else None
    if params.get("id_token_hint") and claims is None:
        return _page("error.html", "The sign-out request is not valid",
                     "The application sent an ID token this identity provider did not issue.", 400)
    if claims and params.get("client_id") and params["client_id"] != _audience(claims):
        return _page("error.html", "The sign-out request is not valid",
                     "The ID token was issued to another application than the one asking.", 400)
    client = _client(params.get("client_id") or _audience(claims))
    target = params.get("post_logout_redirect_uri")
    if target and (client is None or target not in client.post_logout_redirect_uris):
        return _page("error.html", "The sign-out request is not valid",
                     "The application asked to send you to an address it has not registered for sign-out.", 400)
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    trusted = claims is not None and _for_this_session(claims)
    if not trusted and not confirmed:
        return render_template("logout_confirm.html", params=dict(params))
    if not trusted and not _csrf_ok():  # our own confirmation form (the endpoint is CSRF-exempt for RPs)
        return _page("error.html", "This form has expired",
                     "Go back, reload the page and try again. You are still signed in.", 400)
    _sign_out()
    if target:
        state = params.get("state")
        return redirect(target + (("&" if "?" in target else "?") + urlencode({"state": state}) if state else ""))
    return _signed_out(client)


def _signed_out(client: Client | None) -> tuple[str, int]:
    """The way back: the application's first registered post-logout address when the request named it
    (never an address from the request itself), else the IdP's own account page."""
    back = client.post_logout_redirect_uris[0] if client is not None and client.post_logout_redirect_uris else None
    return render_template("signed_out.html", title="You are signed out", client=client, back=back), 200


def _csrf_ok() -> bool:
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def _for_this_session(claims: dict) -> bool:
    """Sign out without asking only for an ID token issued to this browser's own session (RP-Initiated
    Logout §2: any other hint, even one we signed, could come from a cross-site request)."""
    current = sessions.unended(db(), session_state.current_sid())
    if current is None:
        return True  # nobody to sign out; nothing can be forced
    if claims.get("sid"):
        return claims["sid"] == current.public_sid
    return claims.get("sub") == current.user.subject


def _audience(claims: dict | None) -> str | None:
    if not claims:
        return None
    aud = claims.get("aud")
    return aud[0] if isinstance(aud, list) and aud else aud


def _client(client_id: str | None) -> Client | None:
    if not client_id:
        return None
    return db().scalar(sa.select(Client).where(Client.client_id == client_id))


def _sign_out() -> None:
    current = sessions.unended(db(), session_state.current_sid())
    if current is not None:
        sessions.end(db(), current)
    logout_user()
    session_state.clear()


def _page(template: str, title: str, message: str, status: int) -> tuple[str, int]:
    return render_template(template, title=title, message=message), status
