"""Consent: a client marked require_consent asks the user once per client for the scopes it wants."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Response, abort, redirect, render_template, request, session

from idp.clock import now
from idp.login import sessions
from idp.models import Client, Consent, User
from idp.web.context import db
from idp.web.login import session_state

from . import bp

PENDING = "pending_consent"
SCOPE_WORDS = {
    "openid": "Know who you are (a stable account identifier)",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay signed in to the application when you are away (refresh tokens)",
}


def needs_consent(client: Client, user: User, scope: str) -> bool:
    if not client.require_consent:
        return False
    granted = db().scalar(sa.select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.client_id))
    return granted is None or not set(scope.split()) <= set(granted.scopes)


def remember_pending_consent(params: dict[str, str]) -> None:
    session[PENDING] = params


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Response:
    from .authorize import _error, complete_authorization, server

    params = session.get(PENDING)
    current = sessions.active(db(), session_state.current_sid())
    if not params or current is None:
        return render_template("error.html", title="Nothing to approve",
                               message="There is no pending request from an application. Start again from it."), 400
    client = db().scalar(sa.select(Client).where(Client.client_id == params.get("client_id")))
    if client is None:
        abort(400)
    if request.method == "GET":
        scopes = [(s, SCOPE_WORDS.get(s, s)) for s in client.get_allowed_scope(params.get("scope", "")).split()]
        return render_template("consent.html", client=client, scopes=scopes)
    session.pop(PENDING, None)
    if request.form.get("decision") != "allow":
        from authlib.oauth2.rfc6749 import AccessDeniedError
        error = AccessDeniedError()
        error.redirect_uri, error.state = params.get("redirect_uri"), params.get("state")
        return _error(error)
    _grant(current.user, client, client.get_allowed_scope(params.get("scope", "")))
    params = {k: v for k, v in params.items() if k != "prompt"}
    return complete_authorization(params, client, current)


def _grant(user: User, client: Client, scope: str) -> None:
    row = db().scalar(sa.select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.client_id))
    if row is None:
        row = Consent(user_id=user.id, client_id=client.client_id, scopes=[], granted_at=now())
        db().add(row)
    row.scopes = sorted(set(row.scopes) | set(scope.split()))
    row.granted_at = now()



