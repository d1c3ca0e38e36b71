"""`/login/federate` switches this browser's sign-in to the upstream flow for one provider and sends the
browser there; `/federation/callback` hands the provider's answer to the engine as the submit of the
pending `upstream` step, then continues exactly as POST /login does (idp.web.login.views)."""
from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request

from idp import accounts, audit
from idp.federation import providers
from idp.federation.discovery import DIRECTORY
from idp.federation.errors import FederationError, UpstreamUnavailable
from idp.federation.key_sets import shared_key_sets
from idp.federation.scenarios import decide, scenario_of
from idp.flow.engine import Pending
from idp.flow.outcome import Status
from idp.flow.state import FlowState
from idp.flow.steps.upstream import UpstreamStep
from idp.models import LoginTransaction, User
from idp.signin import transactions
from idp.signin.transactions import TransactionProblem
from idp.web.context import actor, db, services
from idp.web.login.start import policies
from idp.web.login.views import STALE_TAB, _advance, _fail, _load, _problem, _show, contexts, engine  # noqa: PLC2701

from . import bp

UNAVAILABLE = "That way of signing in is not available. Choose another one below."
NOT_SET_UP = ("Signing in through an identity provider is not set up on this server yet. "
              "Sign in with your email address and password, or contact your administrator.")
NO_UPSTREAM_SIGN_IN = ("No sign-in at an identity provider is in progress in this browser. "
                       "Here is where your sign-in stands now.")


@bp.get("/login/federate")
def confirm() -> Response:
    """Home-realm discovery lands here: say where the person is going and let them continue."""
    try:
        tx = _load()
    except TransactionProblem as problem:
        return _problem(problem.message)
    provider = providers.find(db(), services().config, request.args.get("provider"))
    if provider is None:
        return _show(tx, transactions.flow_state(tx), notice=UNAVAILABLE)
    return render_template("federation/continue.html", tx=tx, provider=provider,
                           title=f"Sign in with {provider.display_name}")


@bp.post("/login/federate")
def federate() -> Response:
    """"Sign in with ...": this sign-in continues in the upstream flow for that provider."""
    try:
        tx = _load()
    except TransactionProblem as problem:
        return _problem(problem.message)
    state = transactions.flow_state(tx)
    if request.form.get("tx") != str(tx.id):
        return _show(tx, state, notice=STALE_TAB)
    provider = providers.find(db(), services().config, request.form.get("provider"))
    if provider is None:
        return _show(tx, state, notice=UNAVAILABLE)
    flow_name = services().config.policy.upstream_flow
    if flow_name not in policies().flows:
        return _show(tx, state, notice=NOT_SET_UP)
    try:
        DIRECTORY.reachable_metadata(provider)
    except UpstreamUnavailable as err:
        return _unreachable(tx, provider, err)
    except FederationError:
        pass    # a provider that answers wrongly: the upstream step refuses it (and audits why)
    _switch(tx, state, provider.name, flow_name)
    position = engine().position(policies().flow(flow_name), state, contexts(tx))
    if not isinstance(position, Pending) or not isinstance(position.step, UpstreamStep):
        return _show(tx, state)
    outcome = engine().begin(position, state, contexts(tx))
    transactions.save(tx, state)
    if outcome.status is Status.EXTERNAL:
        return redirect(outcome.redirect_to)
    if outcome.status is Status.ABORT:
        return _failed(tx, state, position.node.path, outcome.message)
    return _show(tx, state)


def _unreachable(tx: LoginTransaction, provider: providers.Provider, err: UpstreamUnavailable) -> tuple[str, int]:
    """The provider does not answer: say so here (not the browser's "This site can't be reached"), audited;
    the sign-in stays as it was, so the person can try again in a moment or choose another way."""
    organisation = accounts.organisation_by_slug(db(), provider.organisation)
    audit.record(db(), "federated_sign_in", actor("anonymous"),
                 organisation_id=organisation.id if organisation else None, outcome="failure",
                 details={"provider": provider.name, "problem": err.problem, "detail": err.detail, "flow": tx.flow,
                          "client_id": tx.client_id})
    view = {"provider": provider.name, "display_name": provider.display_name,
            "providers": [(provider.name, provider.display_name)]}
    return render_template("federation/upstream.html", tx=tx, step="", title=f"Sign in with {provider.display_name}",
                           message=err.message, view=view), 503


def _switch(tx: LoginTransaction, state: FlowState, provider: str, flow: str) -> None:
    """Start the upstream flow afresh (a new state, nonce and verifier); who is known and what an earlier
    session proved (step-up) are kept, so the provider must sign in that same person."""
    state.completed, state.chosen, state.started, state.step_state = {}, {}, [], {}
    tx.flow, tx.provider, tx.upstream = flow, provider, {}
    transactions.save(tx, state)


@bp.get("/federation/callback")
def callback() -> Response:
    """The provider sends the browser back here with `code` and `state` (or `error`)."""
    try:
        tx = _load()
    except TransactionProblem as problem:
        audit.record(db(), "federated_sign_in", actor("anonymous"), organisation_id=None, outcome="failure",
                     details={"problem": "no_sign_in_in_progress", "detail": problem.message})
        return _problem(problem.message)
    state = transactions.flow_state(tx)
    if tx.flow not in policies().flows:
        return _fail(tx, "This sign-in cannot continue: its flow no longer exists. Please start again.")
    flow = policies().flow(tx.flow)
    position = engine().position(flow, state, contexts(tx))
    if not isinstance(position, Pending) or not isinstance(position.step, UpstreamStep):
        return _show(tx, state, notice=NO_UPSTREAM_SIGN_IN)
    path = position.node.path
    with shared_key_sets(db()):      # an unknown kid: keys fetched again at most once a minute, fleet-wide
        result = engine().submit(flow, state, contexts(tx), path, request.args)
    if result.outcome.status is Status.ABORT:
        transactions.save(tx, state)
        return _failed(tx, state, path, result.outcome.message)
    if result.outcome.status is not Status.SUCCESS:
        transactions.save(tx, state)
        return _show(tx, state)
    tx.upstream = dict(state.upstream)
    transactions.save(tx, state)
    _audit_signed_in(tx, state)
    return _advance(tx, state)


def _audit_signed_in(tx: LoginTransaction, state: FlowState) -> None:
    """The provider's sign-in was accepted: what it claimed (amr, acr) and how the second factor is decided."""
    user = db().get(User, state.user_id)
    accounts.lock(db(), user)      # the user's row before the audit chain head (the completion writes it next)
    provider = providers.get(db(), services().config, tx.provider)
    mfa_asked = services().config.policy.acr_mfa in (tx.request_params or {}).get("acr_values", "").split()
    satisfied, reason = decide(provider, tx.upstream, mfa_requested=mfa_asked)
    seen: dict[str, Any] = tx.upstream
    audit.record(db(), "federated_sign_in", actor(f"user:{user.email}"), organisation_id=user.organisation_id,
                 target_user_id=user.id, target=user.email,
                 details={"provider": provider.name, "upstream_amr": seen.get("amr", []),
                          "upstream_acr": seen.get("acr"), "tenant": seen.get("tenant"),
                          "account": seen.get("account"), "scenario": scenario_of(provider).key,
                          "local_2fa": "skipped" if satisfied else "required", "decision": reason,
                          "flow": tx.flow, "client_id": tx.client_id})


def _failed(tx: LoginTransaction, state: FlowState, path: str, message: str | None) -> Response:
    """The provider's sign-in was refused: audit why (for the provider's organisation), then stop."""
    failure = dict(state.failure)
    name = failure.get("provider") or tx.provider
    provider = providers.find(db(), services().config, name)
    organisation = accounts.organisation_by_slug(db(), provider.organisation) if provider else None
    audit.record(db(), "federated_sign_in", actor("anonymous"),
                 organisation_id=organisation.id if organisation else None,
                 outcome="failure", details={"provider": name, "problem": failure.get("problem", "refused"),
                                             "detail": failure.get("detail", ""), "flow": tx.flow,
                                             "client_id": tx.client_id})
    return _fail(tx, message or "The sign-in through your identity provider could not be completed.")
