"""The sign-in pages: Flask glue over the sign-in service (idp.signin). Read the request, call the service,
turn its typed result into a response (page, redirect, cookie, session)."""
from __future__ import annotations

from flask import Response, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from idp.browser import remembered
from idp.clock import now
from idp.factors import recovery_file
from idp.flow.engine import FlowEngine
from idp.flow.state import FlowState
from idp.models import LoginTransaction, User
from idp.signin import transactions
from idp.signin.contexts import Contexts
from idp.signin.request import RequestFacts
from idp.signin.results import Completed, Failed, Problem, Redirect, Result, ShowStep
from idp.signin.service import STALE_TAB, SignInService
from idp.web.attachments import text_attachment
from idp.web.context import browser_secret, client_ip, db, device_cookie, give_device_cookie, services
from idp.web.rate_limits import count_login_for, counted_for

from . import bp, session_state
from .start import policies, start_login

__all__ = ["STALE_TAB", "contexts", "engine", "respond", "service"]

# The authorization endpoint answers the application after a sign-in (idp.web.oauth.consent registers it):
# found in app.extensions, so the sign-in pages import nothing from idp.web.oauth.
ANSWER_APPLICATION = "idp.answer_application"
CHANGED_MEANWHILE = "This sign-in changed in another tab or window. Please start again."


def engine() -> FlowEngine:
    return current_app.extensions["idp.engine"]


def service() -> SignInService:
    return SignInService(db(), services(), engine(), policies())


def request_facts() -> RequestFacts:
    cookie = request.cookies.get(remembered.cookie_name(services().config.is_https))
    return RequestFacts(now=now(), ip=client_ip(), user_agent=request.headers.get("User-Agent"),
                        remembered_cookie=cookie, session_sid=session_state.current_sid(),
                        device_cookie=device_cookie())


@bp.get("/login")
def page() -> Response:
    wanted = request.args.get("next")  # flask-login's login_required sends /login?next=/admin/... here
    if current_user.is_authenticated and not service().in_progress(session_state.tx_handle(), browser_secret()):
        return _already_signed_in(wanted)
    if session_state.tx_handle() is None or wanted:
        return start_login({"next": _safe_next(wanted)}, None, purpose="account")
    signin = service()
    tx = signin.load(session_state.tx_handle(), browser_secret())
    if isinstance(tx, Problem):
        return _problem(tx.message)
    return respond(tx, signin.show(tx, request_facts()))


def _already_signed_in(wanted: str | None) -> Response:
    """Never a sign-in form for a signed-in person (the back button after signing in): where they asked to go,
    the application request still waiting for this browser, or Profile > Security."""
    if wanted:
        return redirect(_safe_next(wanted))
    params = service().waiting_application(session_state.tx_handle(), browser_secret())
    if params.get("client_id"):
        return redirect(url_for("oauth.authorize", **params))
    return redirect(url_for("account.security"))


@bp.post("/login")
def submit() -> Response:
    signin = service()
    tx = signin.load(session_state.tx_handle(), browser_secret())
    if not isinstance(tx, Problem) and not counted_for(tx.user_id):
        # counted for another user than the transaction's (an older cookie sent again): counted again and
        # committed at once, which ends the row lock: the transaction is loaded (and locked) again
        refused = count_login_for(tx.user_id)
        if refused is not None:
            return refused
        tx = signin.load(session_state.tx_handle(), browser_secret())
        if not isinstance(tx, Problem) and not counted_for(tx.user_id):
            tx = Problem(CHANGED_MEANWHILE)
    if isinstance(tx, Problem):
        return _problem(tx.message)
    return respond(tx, signin.submit(tx, request_facts(), request.form))


@bp.post("/login/choose")
def choose() -> Response:
    """"Try another way": switch to another alternative of the current group."""
    signin = service()
    tx = signin.load(session_state.tx_handle(), browser_secret())
    if isinstance(tx, Problem):
        return _problem(tx.message)
    return respond(tx, signin.choose(tx, request_facts(), request.form.get("choice", "")))


@bp.post("/login/resend")
def resend() -> Response:
    signin = service()
    tx = signin.load(session_state.tx_handle(), browser_secret())
    if isinstance(tx, Problem):
        return _problem(tx.message)
    return respond(tx, signin.resend(tx, request_facts(), request.form))


@bp.post("/login/recovery-codes/download")
def download_codes() -> Response:
    """"Download" on the recovery codes of a set-up inside this sign-in: the codes the page posts back, as the
    same file as Profile > Security's (only for the browser's sign-in in progress, which knows the account)."""
    signin = service()
    tx = signin.load(session_state.tx_handle(), browser_secret())
    if isinstance(tx, Problem):
        return _problem(tx.message)
    person = db().get(User, tx.user_id) if tx.user_id is not None else None
    if person is None:
        return _problem("This sign-in has no recovery codes to save yet.")
    body = recovery_file.text(services().config.totp.issuer, person.email, request.form.get("codes", ""), now())
    return text_attachment(body, recovery_file.FILE_NAME)


@bp.get("/login/restart")
def restart() -> Response:
    """Start over: the same application request if there was one, otherwise a plain sign-in."""
    params = service().restart(session_state.tx_handle())
    session_state.clear()
    if params.get("client_id"):
        return redirect(url_for("oauth.authorize", **params))
    return redirect(url_for("login.page"))


# --- results into responses ----------------------------------------------------------------------

def respond(tx: LoginTransaction, result: Result) -> Response:
    """The response for a result of the sign-in service."""
    session_state.note_tx_user(tx.user_id)
    match result:
        case ShowStep():
            return render_template(result.template, tx=tx, step=result.step, title=result.title,
                                   message=result.message, notice=result.notice,
                                   alternatives=list(result.alternatives), view=result.view, user=result.user,
                                   remember_days=result.remember_days)
        case Redirect():
            return redirect(result.url)
        case Completed():
            return _signed_in(tx, result)
        case Failed():
            return render_template("error.html", title="Sign-in stopped", message=result.reason, restart=True), 403
        case Problem():
            return _problem(result.message)
    raise TypeError(f"not a sign-in result: {result!r}")


def _signed_in(tx: LoginTransaction, done: Completed) -> Response:
    """Rotate the cookie to the new browser session; an application's sign-in is answered from the
    transaction's stored request (its handle is rotated with the cookie, for consent or a notice page)."""
    session_state.sign_in(done.session)
    if done.for_application:
        response = make_response(current_app.extensions[ANSWER_APPLICATION](tx, done.session))
        if tx.status == transactions.SIGNED_IN:   # still waiting (consent, a notice): a new handle for the new cookie
            session_state.set_tx_handle(transactions.rebind(tx, browser_secret()))
    else:
        response = redirect(_safe_next(done.next_url))
    cookie = done.cookie
    if cookie is not None:
        response.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, secure=cookie.secure,
                            httponly=cookie.httponly, samesite=cookie.samesite, path=cookie.path)
    give_device_cookie(response, done.user.email, second_factor="mfa" in done.amr)
    db().flush()     # the new session's row: a failure is answered here, not at the commit
    return response


def _safe_next(target: str | None) -> str:
    """A path on this server only: never //host, /\\host or control characters (browsers drop tabs and
    new lines, and read the rest as another host)."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not any(ord(c) < 32 or ord(c) == 127 for c in target)):
        return target
    return url_for("account.security")


def _problem(message: str) -> Response:
    return render_template("error.html", title="Sign-in could not continue", message=message, restart=True), 400


# --- for the upstream identity provider pages (idp.web.federation), which drive the same sign-in ----------

def _load() -> LoginTransaction:
    """The sign-in in progress; raises TransactionProblem."""
    return transactions.load(db(), session_state.tx_handle(), browser_secret())


def contexts(tx: LoginTransaction) -> Contexts:
    return service().open(tx, request_facts()).contexts


def _show(tx: LoginTransaction, state: FlowState, notice: str | None = None) -> Response:
    return respond(tx, service().open(tx, request_facts(), state).show(notice))


def _advance(tx: LoginTransaction, state: FlowState) -> Response:
    return respond(tx, service().open(tx, request_facts(), state).advance())


def _fail(tx: LoginTransaction, reason: str) -> Response:
    return respond(tx, service().open(tx, request_facts()).fail(reason))
