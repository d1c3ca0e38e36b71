"""Starting a sign-in: a login transaction for this browser, then the first step's page; or a transaction
that only holds an application's request for a person already signed in (while they consent)."""
from __future__ import annotations

from flask import Response, current_app

from idp.flow.state import FlowState
from idp.models import Client, User
from idp.signin import flows, transactions
from idp.web.context import browser_secret, db, services

from . import session_state


def policies():  # noqa: ANN201
    return current_app.extensions["idp.policies"].current()


def start_login(params: dict[str, str], client: Client | None, *, session_user: User | None = None,
                prior_amr: list[str] | None = None, purpose: str = "authorize") -> Response:
    """Begin a transaction for the flow bound to this client (or organisation), and answer with its first
    step's page (no redirect: the page's forms post to /login, where the handle in the cookie finds it)."""
    config = services().config
    org = session_user.organisation.slug if session_user else None
    client_id = client.client_id if client else None
    state = FlowState(user_id=session_user.id if session_user else None, prior_amr=list(prior_amr or []))
    flow, provider = flows.flow_for(config.policy, client_id, org), _federated(session_user)
    if provider is not None:   # step-up of a session from an upstream provider: back to that provider
        flow = config.policy.upstream_flow
    started = transactions.start(
        db(), flow=flow, policy_digest=policies().digest,
        browser_secret=browser_secret(), ttl_minutes=config.login.transaction_ttl_minutes, purpose=purpose,
        client_id=client_id, params=params, state=state, user_id=state.user_id, provider=provider)
    session_state.set_tx_handle(started.handle)
    from .views import request_facts, respond, service  # views imports this module

    page = service().show(started.transaction, request_facts())
    db().flush()                                           # the page's form carries the transaction's id
    return respond(started.transaction, page)


def hold_request(params: dict[str, str], client: Client, user: User) -> None:
    """An authorization request answered from the browser's session that must wait (consent): a transaction
    already `signed_in` keeps it, the browser keeps only its handle (never a copy of the request)."""
    config = services().config
    started = transactions.start(
        db(), flow=flows.flow_for(config.policy, client.client_id, user.organisation.slug),
        policy_digest=policies().digest, browser_secret=browser_secret(),
        ttl_minutes=config.login.transaction_ttl_minutes, client_id=client.client_id, params=params,
        user_id=user.id, status=transactions.SIGNED_IN)
    session_state.set_tx_handle(started.handle)


def _federated(session_user: User | None) -> str | None:
    """The upstream provider the current browser session of `session_user` came through, if any."""
    if session_user is None:
        return None
    from idp.browser import sessions

    current = sessions.active(db(), session_state.current_sid())
    return current.provider if current is not None and current.user_id == session_user.id else None
