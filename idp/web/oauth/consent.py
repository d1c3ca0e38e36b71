"""After the sign-in, before the code: resume the transaction's stored request, ask for consent, show notices.

A client marked require_consent asks the user once per client for the scopes it wants. The request waits
in its login transaction (status `signed_in`); the browser holds only the transaction's handle, and the
transaction is finished when the authorization response is issued, so it cannot be answered twice."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Response, render_template, request

from idp.browser import sessions
from idp.clock import now
from idp.factors import recovery
from idp.models import BrowserSession, Client, Consent, LoginTransaction, User
from idp.signin import transactions
from idp.signin.authorization import without_prompt
from idp.signin.transactions import TransactionProblem
from idp.web.context import browser_secret, db
from idp.web.login import session_state

from . import bp
from .server import query_client

SCOPE_WORDS = {
    "openid": "Know who you are (a stable account identifier)",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay signed in to the application when you are away (refresh tokens)",
}
NOTHING_WAITING = "There is no application waiting for you. Start again from the application."
NOTHING_TO_APPROVE = "There is no pending request from an application. Start again from it."


def needs_consent(client: Client, user: User, scope: str) -> bool:
    if not client.require_consent:
        return False
    granted = db().scalar(sa.select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.client_id))
    return granted is None or not set(scope.split()) <= set(granted.scopes)


def _waiting() -> tuple[LoginTransaction, BrowserSession, Client] | None:
    """This browser's signed-in transaction with its request, for the person signed in now; else None."""
    try:
        tx = transactions.load(db(), session_state.tx_handle(), browser_secret(), status=transactions.SIGNED_IN)
    except TransactionProblem:
        return None
    current = sessions.active(db(), session_state.current_sid())
    client = query_client(tx.client_id) if tx.client_id else None   # active clients only
    if current is None or current.user_id != tx.user_id or client is None:
        return None
    return tx, current, client


ANSWER_APPLICATION = "idp.answer_application"   # idp.web.login.views.ANSWER_APPLICATION


@bp.record_once
def _offer_answer(setup) -> None:  # noqa: ANN001
    """The sign-in pages answer the application through this, found in app.extensions (not imported)."""
    setup.app.extensions[ANSWER_APPLICATION] = answer_after_sign_in


def answer_after_sign_in(tx: LoginTransaction, current: BrowserSession) -> Response:
    """The sign-in of `tx` has just completed with the browser session `current`: show the notice the flow
    asked for (a recovery code was used), else answer the application (consent first, when needed)."""
    client = query_client(tx.client_id) if tx.client_id else None
    if client is None:
        return _nothing(NOTHING_WAITING, "Sign-in could not continue")
    return _notice_or_answer(tx, current, client, notice=True)


@bp.route("/authorize/continue", methods=["GET", "POST"])
def resume() -> Response:
    """Answer the application after the sign-in; the notice's "Continue" posts here."""
    waiting = _waiting()
    if waiting is None:
        return _nothing(NOTHING_WAITING, "Sign-in could not continue")
    tx, current, client = waiting
    return _notice_or_answer(tx, current, client, notice=request.method == "GET", recheck=True)


def _notice_or_answer(tx: LoginTransaction, current: BrowserSession, client: Client, *, notice: bool,
                      recheck: bool = False) -> Response:
    """The recovery-code notice, or the answer. `recheck`: the session was made before this request (the
    person comes back later): it must still satisfy the current policy, like any reused session."""
    from .authorize import complete_authorization

    if notice and transactions.flow_state(tx).after_login:
        transactions.hold(tx)     # "Continue" resumes it
        return render_template("recovery_used.html", client=client, remaining=recovery.remaining(db(), current.user))
    if recheck and (refused := _refused_by_policy(tx, current, client)) is not None:
        return refused
    return complete_authorization(dict(tx.request_params or {}), client, current, tx)


def _refused_by_policy(tx: LoginTransaction, current: BrowserSession, client: Client) -> Response | None:
    """A waiting request whose session no longer satisfies the person's current policy (an administrator
    enforced 2FA meanwhile, ...): answered `login_required`, never with a code (idp.browser.session_policy)."""
    from .authorize import _answered, _error, _login_required, _still_satisfies_policy

    if _still_satisfies_policy(current, client):
        return None
    return _answered(tx, _error(_login_required(dict(tx.request_params or {}))))


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Response:
    from .authorize import _error, complete_authorization

    waiting = _waiting()
    if waiting is None:
        return _nothing(NOTHING_TO_APPROVE)
    tx, current, client = waiting
    params = dict(tx.request_params or {})
    if request.method == "GET":
        scopes = [(s, SCOPE_WORDS.get(s, s)) for s in client.get_allowed_scope(params.get("scope", "")).split()]
        return render_template("consent.html", client=client, scopes=scopes)
    if request.form.get("decision") != "allow":
        from authlib.oauth2.rfc6749 import AccessDeniedError
        error = AccessDeniedError()
        error.redirect_uri, error.state = params.get("redirect_uri"), params.get("state")
        transactions.finish(tx, transactions.DONE)
        session_state.forget_tx_handle()
        return _error(error)
    if (refused := _refused_by_policy(tx, current, client)) is not None:
        return refused
    _grant(current.user, client, client.get_allowed_scope(params.get("scope", "")))
    return complete_authorization(without_prompt(params), client, current, tx)


def _nothing(message: str, title: str = "Nothing to approve") -> Response:
    return render_template("error.html", title=title, message=message), 400


def _grant(user: User, client: Client, scope: str) -> None:
    row = db().scalar(sa.select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.client_id))
    if row is None:
        row = Consent(user_id=user.id, client_id=client.client_id, scopes=[], granted_at=now())
        db().add(row)
    row.scopes = sorted(set(row.scopes) | set(scope.split()))
    row.granted_at = now()
