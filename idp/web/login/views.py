"""GET shows the current step of this browser's sign-in; POST hands the step its form."""
from __future__ import annotations

from flask import Response, current_app, make_response, redirect, render_template, request, session, url_for

from idp import audit
from idp.clock import now
from idp.flow.context import FlowContext
from idp.flow.engine import Blocked, Complete, FlowEngine, Pending
from idp.flow.outcome import Outcome, Status
from idp.flow.state import FlowState
from idp.login import flows, remembered, sessions, transactions
from idp.login.transactions import TransactionProblem
from idp.models import Client, LoginTransaction, User
from idp.web.context import actor, browser_secret, client_ip, db, device_cookie, give_device_cookie, services

from . import bp, session_state
from .start import policies, start_login

RESUME_KEY = "resume_authorization"
REMEMBER_KEY = "remember_browser"   # in a step's scratch space: "Don't ask again on this browser" ticked
STALE_TAB = ("This page belongs to a sign-in that is no longer current in this browser (perhaps another "
             "tab started a new one). Continue below with the current sign-in.")


def engine() -> FlowEngine:
    return current_app.extensions["idp.engine"]


def _load() -> LoginTransaction:
    return transactions.load(db(), session_state.tx_handle(), browser_secret())


def contexts(tx: LoginTransaction):  # noqa: ANN201
    """A FlowContext factory for this transaction (the user is whoever the flow identified so far)."""
    params = tx.request_params or {}
    cache: dict[int, User] = {}
    remembered_for: dict[int, bool] = {}

    def build(state: FlowState, path: str) -> FlowContext:
        user = None
        if state.user_id is not None:
            user = cache.get(state.user_id) or db().get(User, state.user_id)
            cache[state.user_id] = user
            if user.id not in remembered_for:
                remembered_for[user.id] = remembered.is_remembered(
                    db(), user, _remember_cookie(), params, services().config.policy.acr_mfa)
        return FlowContext(
            db=db(), config=services().config, services=services(), now=now(), user=user,
            client_id=tx.client_id, acr_values=tuple(params.get("acr_values", "").split()),
            provider=tx.provider, upstream=dict(tx.upstream or {}), amr=tuple(state.amr()),
            ip=client_ip(), user_agent=request.headers.get("User-Agent"), transaction_id=tx.id,
            device_cookie=device_cookie(),
            step_state=state.scratch(path), login_hint=params.get("login_hint"),
            browser_remembered=bool(user is not None and remembered_for.get(user.id)))
    return build


def _remember_cookie() -> str | None:
    return request.cookies.get(remembered.cookie_name(services().config.is_https))


@bp.get("/login")
def page() -> Response:
    wanted = request.args.get("next")  # flask-login's login_required sends /login?next=/admin/... here
    if session_state.tx_handle() is None or wanted:
        return start_login({"next": _safe_next(wanted)}, None, purpose="account")
    try:
        tx = _load()
    except TransactionProblem as problem:
        return _problem(problem.message)
    return _show(tx, transactions.flow_state(tx))


@bp.post("/login")
def submit() -> Response:
    try:
        tx = _load()
    except TransactionProblem as problem:
        return _problem(problem.message)
    if request.form.get("tx") != str(tx.id):
        return _show(tx, transactions.flow_state(tx), notice=STALE_TAB)
    state = transactions.flow_state(tx)
    flow = policies().flow(tx.flow)
    result = engine().submit(flow, state, contexts(tx), request.form.get("step", ""), request.form)
    if result.outcome.status is Status.SUCCESS and request.form.get("remember_browser") == "yes":
        state.scratch(request.form.get("step", ""))[REMEMBER_KEY] = True   # honoured only after a second factor
    transactions.save(tx, state)
    if result.stale:
        return _show(tx, state, notice="That page was out of date. Here is where your sign-in stands now.")
    _audit_outcome(tx, state, result.outcome, request.form.get("step", ""))
    if result.outcome.status is Status.EXTERNAL:
        return redirect(result.outcome.redirect_to)
    if result.outcome.status is Status.ABORT:
        return _fail(tx, result.outcome.message or "The sign-in cannot continue.")
    if result.outcome.status in (Status.RETRY, Status.CHALLENGE) and isinstance(result.position, Pending):
        return _render(tx, state, result.position, result.outcome)
    return _advance(tx, state)


@bp.post("/login/choose")
def choose() -> Response:
    """"Try another way": switch to another alternative of the current group."""
    try:
        tx = _load()
    except TransactionProblem as problem:
        return _problem(problem.message)
    state = transactions.flow_state(tx)
    if not engine().choose(policies().flow(tx.flow), state, contexts(tx), request.form.get("choice", "")):
        return _show(tx, state, notice="That choice is not available for this sign-in.")
    transactions.save(tx, state)
    return redirect(url_for("login.page"))


@bp.post("/login/resend")
def resend() -> Response:
    try:
        tx = _load()
    except TransactionProblem as problem:
        return _problem(problem.message)
    state = transactions.flow_state(tx)
    position = engine().position(policies().flow(tx.flow), state, contexts(tx))
    if not isinstance(position, Pending) or request.form.get("step") != position.node.path:
        return _show(tx, state, notice="That page was out of date. Here is where your sign-in stands now.")
    outcome = engine().resend(position, state, contexts(tx)) or Outcome.retry("This step cannot send a new code.",
                                                                             counts_as_failure=False)
    transactions.save(tx, state)
    return _render(tx, state, position, outcome)


def _show(tx: LoginTransaction, state: FlowState, notice: str | None = None) -> Response:
    _maybe_switch_flow(tx, state)
    position = engine().position(policies().flow(tx.flow), state, contexts(tx))
    if isinstance(position, Pending):
        outcome = engine().begin(position, state, contexts(tx))
        transactions.save(tx, state)
        if outcome.status is Status.SUCCESS:
            return _advance(tx, state)
        if outcome.status is Status.EXTERNAL:
            return redirect(outcome.redirect_to)
        if outcome.status is Status.ABORT:
            return _fail(tx, outcome.message or "The sign-in cannot continue.")
        return _render(tx, state, position, outcome, notice)
    return _advance(tx, state)


def _advance(tx: LoginTransaction, state: FlowState) -> Response:
    _maybe_switch_flow(tx, state)
    position = engine().position(policies().flow(tx.flow), state, contexts(tx))
    transactions.save(tx, state)
    if isinstance(position, Blocked):
        return _fail(tx, position.reason)
    if isinstance(position, Pending):
        return redirect(url_for("login.page"))
    return _complete(tx, state, position)


def _maybe_switch_flow(tx: LoginTransaction, state: FlowState) -> None:
    """Once the user is known, an organisation bound to another flow continues in that flow (not a sign-in
    through an upstream provider: its flow is the configured upstream_flow, whatever the organisation)."""
    if state.user_id is None or tx.provider is not None:
        return
    user = db().get(User, state.user_id)
    target = flows.switch_for_organisation(services().config.policy, tx.flow, tx.client_id, user.organisation.slug)
    if target is not None:
        state.prior_amr = sorted(set(state.prior_amr) | set(state.amr()))
        state.completed, state.chosen, state.started = {}, {}, []
        tx.flow = target


def _render(tx: LoginTransaction, state: FlowState, position: Pending, outcome: Outcome,
            notice: str | None = None) -> Response:
    ctx = contexts(tx)(state, position.node.path)
    view = {**position.step.view(ctx), **outcome.view}
    alternatives = [(n.path, engine().step_for(n).title) for n in position.alternatives
                    if n.path != position.node.path]
    transactions.save(tx, state)
    remember_days = 0
    if position.step.second_factor and not position.step.identifies_user:
        remember_days = remembered.may_offer(ctx.user, tx.request_params or {}, services().config.policy.acr_mfa)
    return render_template(position.step.template, tx=tx, step=position.node.path, title=position.step.title,
                           message=outcome.message if outcome.status is Status.RETRY else None,
                           notice=notice, alternatives=alternatives, view=view, user=ctx.user,
                           remember_days=remember_days)


def _complete(tx: LoginTransaction, state: FlowState, done: Complete) -> Response:
    from idp.web.oauth.authorize import complete_authorization

    user = db().get(User, state.user_id)
    amr = list(done.amr)
    previous = sessions.unended(db(), session_state.current_sid())
    if previous is not None:
        sessions.end(db(), previous, revoke_refresh=previous.user_id != user.id)
    row = sessions.create(db(), user, amr=amr, acr=flows.acr_for(services().config.policy, amr),
                          ttl_hours=services().config.login.session_ttl_hours, ip=client_ip(),
                          user_agent=request.headers.get("User-Agent"), provider=tx.provider,
                          idle_minutes=services().config.login.session_idle_minutes)
    transactions.finish(tx)
    note, cookie = _remember_browser(tx, state, user, amr)
    if note == "used":   # the second factor was skipped: the session holds while this browser stays remembered
        row.remembered_browser_id = remembered.find(db(), user, _remember_cookie()).id
    audit.record(db(), "sign_in", actor(f"user:{user.email}"), organisation_id=user.organisation_id,
                 target_user_id=user.id, target=user.email,
                 details={"amr": amr, "flow": tx.flow, "client_id": tx.client_id,
                          **({"remembered_browser": note} if note else {})})
    session_state.sign_in(row)
    if tx.purpose != "authorize":
        response = redirect(_safe_next(_after_login(state) or tx.request_params.get("next")))
    else:
        client = db().get(Client, _client_pk(tx.client_id))
        if _after_login(state):
            response = make_response(_recovery_code_used(user, client, tx.request_params))
        else:
            response = complete_authorization(tx.request_params, client, row)
    if cookie is not None:
        response.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, secure=cookie.secure,
                            httponly=cookie.httponly, samesite=cookie.samesite, path=cookie.path)
    give_device_cookie(response, user.email)
    return response


def _remember_browser(tx: LoginTransaction, state: FlowState, user: User,
                      amr: list[str]) -> tuple[str | None, remembered.CookieSpec | None]:
    """"Don't ask again on this browser": ("new", cookie) when it was ticked on a second-factor page of a
    sign-in that proved two factors (and is allowed for this request); ("used", None) when a remembered
    browser let this sign-in skip the second factor; (None, None) otherwise. For the audit entry: no token."""
    params, acr_mfa = tx.request_params or {}, services().config.policy.acr_mfa
    if "mfa" not in amr:
        row = remembered.find(db(), user, _remember_cookie())
        if row is not None and not remembered.freshness_demanded(params, acr_mfa):
            remembered.touch(row)
            return "used", None
        return None, None
    asked = any(s.get(REMEMBER_KEY) for s in state.step_state.values())
    if not asked or not remembered.may_offer(user, params, acr_mfa):
        return None, None
    cookie = remembered.remember(db(), user, https=services().config.is_https, ip=client_ip(),
                                 user_agent=request.headers.get("User-Agent"))
    return ("new" if cookie else None), cookie


def _recovery_code_used(user: User, client: Client, params: dict[str, str]) -> Response:
    """After a recovery-code sign-in for an application: say how many codes are left, offer Profile >
    Security, then continue to the application."""
    from idp.factors import recovery

    session[RESUME_KEY] = dict(params)
    return render_template("recovery_used.html", client=client, remaining=recovery.remaining(db(), user))


@bp.post("/login/continue")
def continue_to_client() -> Response:
    """Finish the authorization that a notice page interrupted (the session is already signed in)."""
    from idp.web.oauth.authorize import complete_authorization

    params = session.pop(RESUME_KEY, None)
    current = sessions.active(db(), session_state.current_sid())
    client = db().get(Client, _client_pk(params.get("client_id"))) if params else None
    if current is None or client is None:
        return _problem("There is no application waiting for you. Start again from the application.")
    return complete_authorization(params, client, current)


def _after_login(state: FlowState) -> str | None:
    """Where a step asks to send the person after signing in to their account (a recovery code was used:
    Profile > Security, to set up their second factor again or make new codes)."""
    return next((s["after_login"] for s in state.step_state.values() if s.get("after_login")), None)


def _client_pk(client_id: str | None) -> int | None:
    import sqlalchemy as sa
    return db().scalar(sa.select(Client.id).where(Client.client_id == client_id))


def _safe_next(target: str | None) -> str:
    """A path on this server only: never //host, /\\host or control characters (browsers drop tabs and
    new lines, and read the rest as another host)."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not any(ord(c) < 32 or ord(c) == 127 for c in target)):
        return target
    return url_for("account.security")


def _fail(tx: LoginTransaction, reason: str) -> Response:
    transactions.finish(tx, "failed")
    user = tx.user
    audit.record(db(), "sign_in", actor(f"user:{user.email}" if user else "anonymous"),
                 organisation_id=user.organisation_id if user else None, target_user_id=user.id if user else None,
                 target=user.email if user else None, outcome="failure", details={"reason": reason, "flow": tx.flow})
    return render_template("error.html", title="Sign-in stopped", message=reason, restart=True), 403


def _problem(message: str) -> Response:
    return render_template("error.html", title="Sign-in could not continue", message=message, restart=True), 400


def _audit_outcome(tx: LoginTransaction, state: FlowState, outcome: Outcome, path: str) -> None:
    if outcome.status is not Status.RETRY or not outcome.counts_as_failure:
        return
    user = db().get(User, state.user_id) if state.user_id else None
    audit.record(db(), "sign_in_attempt", actor(f"user:{user.email}" if user else "anonymous"),
                 organisation_id=user.organisation_id if user else None, target_user_id=user.id if user else None,
                 target=user.email if user else None, outcome="failure",
                 details={"step": path.rsplit("/", 1)[-1], "flow": tx.flow})


@bp.get("/login/restart")
def restart() -> Response:
    """Start over: the same application request if there was one, otherwise a plain sign-in."""
    params: dict[str, str] = {}
    try:
        tx = transactions.load(db(), session_state.tx_handle(), browser_secret(), for_update=False)
        params = dict(tx.request_params or {}) if tx.purpose == "authorize" else {}
    except TransactionProblem:
        tx = _latest_params()
        params = tx or {}
    session_state.clear()
    if params.get("client_id"):
        return redirect(url_for("oauth.authorize", **params))
    return redirect(url_for("login.page"))


def _latest_params() -> dict[str, str] | None:
    """The request of the browser's last transaction, even if it expired or failed."""
    import sqlalchemy as sa

    from idp.security.secrets import digest
    handle = session_state.tx_handle()
    if not handle:
        return None
    tx = db().scalar(sa.select(LoginTransaction).where(LoginTransaction.handle_digest == digest(handle)))
    if tx is None or tx.purpose != "authorize":
        return None
    return dict(tx.request_params or {})
