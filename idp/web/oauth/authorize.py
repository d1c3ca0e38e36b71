"""The authorization endpoint (OpenID Connect Core §3.1.2): validate, reuse a session or start a sign-in."""
from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import Response, current_app, redirect, render_template, request, url_for

from idp.browser import session_policy, sessions
from idp.clock import now
from idp.models import BrowserSession, Client, LoginTransaction
from idp.signin import transactions
from idp.signin.authorization import StoredAuthorizationRequest
from idp.web.context import actor, db, services
from idp.web.login import session_state
from idp.web.login.start import hold_request, start_login

from . import bp, request_bounds
from .consent import needs_consent
from .id_token_hint import hinted_subject
from .server import AuthenticatedLogin


class RequestNotSupported(OAuth2Error):
    error = "request_not_supported"
    description = "Request objects (the 'request' parameter) are not supported; send plain parameters."


class RequestUriNotSupported(OAuth2Error):
    error = "request_uri_not_supported"
    description = "The 'request_uri' parameter is not supported; send plain parameters."


# What the client is told when authlib gives no (or an unhelpful) error_description.
DESCRIPTIONS = {
    "unsupported_response_type": "Only the authorization code flow is supported: use response_type=code.",
    "login_required": "The user is not signed in, and prompt=none forbids asking them to.",
    "consent_required": "The user has not approved this application, and prompt=none forbids asking them to.",
    "access_denied": "The user did not allow this application to sign them in.",
}


def server():  # noqa: ANN201
    return current_app.extensions["authlib.server"]


def _params() -> dict[str, str]:
    """The request's parameters (GET query or POST form), one value each."""
    return {k: v for k, v in request.values.items()}


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    refused = request_bounds.refusal()   # sizes and repeated parameters, before anything is read or stored
    if refused is not None:
        return _error(refused) if refused.redirect_uri else request_bounds.page(refused)
    params = _params()
    if not params.get("redirect_uri"):  # OpenID Connect Core §3.1.2.1: REQUIRED; never guess where to send
        return _page("invalid_request", "The application did not say where to send you back (redirect_uri).")
    try:
        grant = server().get_consent_grant(end_user=None) if params.get("prompt") != "none" else None
        if grant is None:
            grant = _validate_only(params)
    except OAuth2Error as error:
        return _error(error)
    if "request" in params or "request_uri" in params:
        error = RequestNotSupported() if "request" in params else RequestUriNotSupported()
        error.redirect_uri, error.state = grant.redirect_uri, params.get("state")
        return _error(error)
    return continue_authorization(params, grant.client)


def _validate_only(params: dict[str, str]):  # noqa: ANN202
    """Validate a prompt=none request without authlib's login_required shortcut (we decide below)."""
    without_prompt = {k: v for k, v in params.items() if k != "prompt"}
    return server().get_consent_grant(stored_request(without_prompt), end_user=None)


def continue_authorization(params: dict[str, str], client: Client) -> Response:
    """Use the current session if it satisfies the request; otherwise sign in (or say login_required)."""
    current = sessions.active(db(), session_state.current_sid())
    if current is not None and not _still_satisfies_policy(current, client):
        current = None      # as if signed out: sign in again through the flow (prompt=none: login_required)
    own_flow = current is not None and _needs_its_own_flow(current, client)
    reusable = current if current is not None and not own_flow and _session_fits(current, params) else None
    if reusable is not None:
        return complete_authorization(params, client, reusable)
    if params.get("prompt") == "none":
        return _error(_login_required(params))
    step_up = current is not None and (own_flow or _only_weaker(current, params))
    return start_login(params, client, session_user=current.user if step_up else None,
                       prior_amr=list(current.amr) if step_up else [])


def _still_satisfies_policy(current: BrowserSession, client: Client) -> bool:
    """The session's sign-in against the person's CURRENT policy (idp.browser.session_policy); a refusal
    is audited."""
    verdict = session_policy.check_session(db(), services().config, current.user,
                                           session_policy.SignIn.of_session(current), now=now())
    if not verdict.ok:
        session_policy.record_refusal(db(), current.user, verdict, actor(f"user:{current.user.email}"),
                                      at="authorize", client_id=client.client_id, session=current)
    return verdict.ok


def _needs_its_own_flow(current: BrowserSession, client: Client) -> bool:
    """A client bound to a flow of its own (`[policy.clients]`, e.g. "the payroll app always asks for two
    factors") is answered from a session only once that session went through the client's flow: until then
    the flow runs as a step-up (what the session proved already counts, the rest is asked)."""
    return client.client_id in services().config.policy.clients and client.client_id not in (current.clients or [])


def _session_fits(current: BrowserSession, params: dict[str, str]) -> bool:
    prompts = params.get("prompt", "").split()
    if "login" in prompts:
        return False
    if "max_age" in params and not _within_max_age(current, params["max_age"]):
        return False
    if not _acr_satisfied(current, params.get("acr_values", "")):
        return False
    hint = params.get("id_token_hint")
    if hint and hinted_subject(hint) != current.user.subject:
        return False
    login_hint = params.get("login_hint", "").strip().lower()
    return not (login_hint and "@" in login_hint and login_hint != current.user.email)


def _within_max_age(current: BrowserSession, raw: str) -> bool:
    try:
        max_age = int(raw)
    except ValueError:
        return False
    return (now() - current.auth_time).total_seconds() <= max_age


def _acr_satisfied(current: BrowserSession, acr_values: str) -> bool:
    policy = services().config.policy
    requested = acr_values.split()
    if policy.acr_mfa in requested and policy.acr_password not in requested:
        return "mfa" in (current.amr or [])
    return True


def _only_weaker(current: BrowserSession, params: dict[str, str]) -> bool:
    """Step-up: the session is fine except that the requested acr needs more (keep what it proved)."""
    if "login" in params.get("prompt", "").split() or "max_age" in params:
        return False
    hint = params.get("id_token_hint")
    return not (hint and hinted_subject(hint) != current.user.subject) and \
        not _acr_satisfied(current, params.get("acr_values", ""))


def _login_required(params: dict[str, str]) -> OAuth2Error:
    from authlib.oidc.core.errors import LoginRequiredError

    error = LoginRequiredError()
    error.redirect_uri, error.state = params.get("redirect_uri"), params.get("state")
    return error


def complete_authorization(params: dict[str, str], client: Client, current: BrowserSession,
                           tx: LoginTransaction | None = None) -> Response:
    """Issue the code to the client for this signed-in session (after consent, when needed).
    `tx` is the login transaction holding this request (None for a request answered from an existing
    session); it is finished once the authorization response (code or error) is issued, never resumed again.
    An organisation's own client serves only that organisation's users; deployment-wide clients serve all."""
    if client.organisation_id is not None and client.organisation_id != current.user.organisation_id:
        from authlib.oauth2.rfc6749 import AccessDeniedError
        error = AccessDeniedError(description="This application is not available to your organisation.")
        error.redirect_uri, error.state = params.get("redirect_uri"), params.get("state")
        return _answered(tx, _error(error))
    if needs_consent(client, current.user, client.get_allowed_scope(params.get("scope", ""))) or "consent" in params.get("prompt", "").split():
        if params.get("prompt") == "none":
            from authlib.oidc.core.errors import ConsentRequiredError
            error = ConsentRequiredError()
            error.redirect_uri, error.state = params.get("redirect_uri"), params.get("state")
            return _answered(tx, _error(error))
        if tx is None:   # answered from the session: a transaction holds the request while the person decides
            hold_request(params, client, current.user)
        else:
            transactions.hold(tx)
        return redirect(url_for("oauth.consent"))
    login = AuthenticatedLogin(current.user, int(current.auth_time.timestamp()), tuple(current.amr),
                               current.acr, current.sid)
    stored = stored_request(params)
    try:
        grant = server().get_consent_grant(stored, end_user=login)
    except OAuth2Error as error:
        return _answered(tx, _error(error))
    sessions.note_client(current, client.client_id)
    return _answered(tx, server().create_authorization_response(stored, grant_user=login, grant=grant))


def _answered(tx: LoginTransaction | None, response: Response) -> Response:
    """The authorization response is issued: the transaction's request cannot be resumed again."""
    if tx is not None:
        transactions.finish(tx, transactions.DONE)
        session_state.forget_tx_handle()
    return response


def stored_request(params: dict[str, str]) -> StoredAuthorizationRequest:
    """authlib's request object for saved authorization parameters (to resume after the sign-in)."""
    return StoredAuthorizationRequest(services().config.issuer, params)


def _error(error: OAuth2Error) -> Response:
    """Redirect back with the error when the redirect URI is known good; otherwise an error page.
    The redirect carries error, error_description, state and iss (RFC 9207 §2: error responses too)."""
    if error.error in DESCRIPTIONS and (not error.description or error.error == "unsupported_response_type"):
        error.description = DESCRIPTIONS[error.error]
    if getattr(error, "redirect_uri", None):
        response = server().handle_error_response(request, error)
        if response.location:
            response.location = add_params_to_uri(response.location, {"iss": services().config.issuer})
        return response
    return _page(error.error, error.description or error.error)


def _page(code: str, description: str) -> Response:
    return render_template("error.html", title="This sign-in request is not valid",
                           message=_plain(code, description)), 400


def _plain(code: str, description: str) -> str:
    if code == "invalid_client":
        return "The application that sent you here is not registered with this identity provider."
    if "redirect" in (description or "").lower():
        return "The application asked to send you back to an address it has not registered."
    return description or code

