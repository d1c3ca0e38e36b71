"""The Flask side of rate limiting: a `before_request` hook keyed on `request.endpoint`, and the 429s.

Which counters a request moves (each rule per client IP and per account or client, limits in [rate_limit]):

| endpoint                               | rule            | second key                                    |
|----------------------------------------|-----------------|-----------------------------------------------|
| POST /login, nobody identified yet     | `login`         | the posted `email` (normalised)               |
| POST /login, the user is known         | `second_factor` | the login transaction's user                  |
| POST /login/resend, POST /login/choose | `send`          | the login transaction's user (when known)     |
| Profile > Security set-up code sends   | `send`          | the signed-in user                            |
| POST /forgot-password                  | `send`          | the posted `email`                            |
| POST /token                            | `token`         | the client_id (Basic auth, form or assertion) |
| POST /introspect                       | `introspect`    | the client_id                                 |
| GET or POST /authorize                 | `authorize`     | (per client address only)                     |

"The user is known" is decided on the server, never from the form: the hook reads the user the server last
named in the browser's signed cookie for its sign-in (no query), and the view, once it has the login
transaction, checks it (`counted_for`, `count_login_for`): a POST counted for anyone else than the
transaction's user (an older cookie sent again, a sign-in that moved on in another tab) is counted again under
the right rule, committed at once, before any step runs, so a second-factor guess cannot be made to count as
something else. A refused request stops here: the view does not run, so nothing else changes (no step runs, no failure is counted, no code is sent, no audit entry).
Browsers get a page saying how long to wait; /token and /introspect get JSON `too_many_requests`. Both
carry `Retry-After` (seconds)."""
from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from urllib.parse import unquote

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, jsonify, render_template, request, session

from idp.accounts import normalise_email
from idp.config import RateLimitConfig
from idp.fast_lookup import Lookup
from idp.models import BrowserSession, LoginTransaction
from idp.oauth.client_auth import MAX_ASSERTION_BYTES
from idp.rate_limit_rules import RULES, Limit, parse_limit
from idp.ratelimit.limiter import Check, Limiter, LimiterUnavailable, Verdict, build_limiter
from idp.security.secrets import digest
from idp.web.context import db

log = logging.getLogger("idp.ratelimit")

LOGIN_ENDPOINTS = {"login.submit"}
SEND_ENDPOINTS = {"login.resend", "login.choose"}
# sends outside the sign-in: Profile > Security set-up codes (the signed-in user), password reset (the email)
ACCOUNT_SEND_ENDPOINTS = {"account.enable_email", "account.enable_sms_submit", "account.verify_resend",
                          "account.confirm_send"}
EMAIL_SEND_ENDPOINTS = {"recovery.forgot_submit"}
CLIENT_ENDPOINTS = {"oauth.token": "token", "oauth.introspect": "introspect"}
ADDRESS_ENDPOINTS = {"oauth.authorize": "authorize"}   # any method: a GET starts a sign-in too
JSON_ENDPOINTS = set(CLIENT_ENDPOINTS)
TX_SESSION_KEY = "login_tx"     # idp.web.login.session_state.TX_KEY
TX_USER_SESSION_KEY = "login_tx_user"     # idp.web.login.session_state.TX_USER_KEY
RULES_KEY = "idp.ratelimit.rules"
COUNTED_FOR = "idp_login_counted_for"     # flask.g: the user (or None) a sign-in POST was counted for
# WSGI environ: the Verdict (or LimiterUnavailable) of a /token request's counts, moved once before Flask by the
# refresh answered in front with a limiter that cannot count in a transaction (Redis; idp.web.oauth.front_refresh)
COUNTED_AHEAD = "idp.ratelimit.counted_ahead"


def rules_from_config(config: RateLimitConfig) -> dict[str, tuple[Limit | None, Limit | None]]:
    return {rule: (parse_limit(getattr(config, ip_key)),
                   parse_limit(getattr(config, other_key)) if other_key else None)
            for rule, (ip_key, other_key) in RULES.items()}


def limiter(app: Flask) -> Limiter | None:
    return app.extensions.get("idp.ratelimit")


def init_app(app: Flask) -> None:
    services = app.extensions["idp"]
    config = services.config.rate_limit
    if not config.enabled:
        return
    rules = rules_from_config(config)
    app.extensions["idp.ratelimit"] = build_limiter(services.database.engine, config.redis_url)
    app.extensions[RULES_KEY] = rules

    @app.before_request
    def _rate_limit():  # noqa: ANN202
        if request.method != "POST" and request.endpoint not in ADDRESS_ENDPOINTS:
            return None
        ahead = request.environ.get(COUNTED_AHEAD)
        if request.endpoint == "oauth.token" and isinstance(ahead, Verdict | LimiterUnavailable):
            return _answer(ahead)          # counted once already: refuse or go on from that count
        checks = checks_for(request.endpoint, rules)
        return _counted(app.extensions["idp.ratelimit"], checks) if checks else None


def _counted(counters: Limiter, checks: list[Check]) -> Response | None:
    """Count this request under `checks` (committed at once: see DatabaseBackend.hit); the 429 to answer when
    over a limit, the 503 when the limiter cannot count (fails closed), else None."""
    try:
        verdict = counters.hit(checks, db())
    except LimiterUnavailable as exc:
        return _answer(exc)
    return _answer(verdict)


def _answer(verdict: Verdict | LimiterUnavailable) -> Response | None:
    """The 503 when the limiter could not count (fails closed), the 429 over a limit, else None."""
    if isinstance(verdict, LimiterUnavailable):
        log.error("rate limiter unavailable, refusing %s: %s", request.endpoint, verdict)
        return _unavailable()
    if verdict.allowed:
        return None
    _note_refusal(verdict)
    return too_many(verdict)


def checks_for(endpoint: str | None, rules: dict) -> list[Check]:
    """The counters this request moves (empty: the endpoint is not limited)."""
    from idp.web.context import client_ip

    if endpoint in LOGIN_ENDPOINTS:
        named = session.get(TX_USER_SESSION_KEY)
        counted_for = named if isinstance(named, int) else None
        setattr(g, COUNTED_FOR, counted_for)        # checked by the view: counted_for
        return _login_checks(rules, counted_for)
    if endpoint in SEND_ENDPOINTS:
        user_id = _transaction_user()
        return _pair(rules, "send", client_ip(), f"user:{user_id}" if user_id is not None else None)
    if endpoint in ACCOUNT_SEND_ENDPOINTS:
        user_id = _signed_in_user()
        return _pair(rules, "send", client_ip(), f"user:{user_id}" if user_id is not None else None)
    if endpoint in EMAIL_SEND_ENDPOINTS:
        email = normalise_email(request.form.get("email") or "")[:320]
        return _pair(rules, "send", client_ip(), f"email:{email}" if email else None)
    if endpoint in ADDRESS_ENDPOINTS:
        return _pair(rules, ADDRESS_ENDPOINTS[endpoint], client_ip(), None)
    if endpoint in CLIENT_ENDPOINTS:
        client_id = claimed_client_id(request.headers.get("Authorization", ""), request.form)
        return client_checks(rules, endpoint, client_ip(), client_id)
    return []


def _login_checks(rules: dict, user_id: int | None) -> list[Check]:
    """A sign-in POST: `second_factor` for a known user, else `login` for the posted email."""
    from idp.web.context import client_ip

    if user_id is not None:
        return _pair(rules, "second_factor", client_ip(), f"user:{user_id}")
    email = normalise_email(request.form.get("email") or "")[:320]
    return _pair(rules, "login", client_ip(), f"email:{email}" if email else None)


def counted_for(tx_user_id: int | None) -> bool:
    """For the sign-in POST's view, once its login transaction is loaded: was this request counted for the
    transaction's user (or for nobody, and it has none)? Also True when rate limits are off."""
    return COUNTED_FOR not in g or g.get(COUNTED_FOR) == tx_user_id


def count_login_for(tx_user_id: int | None) -> Response | None:
    """Count this sign-in POST again, under the rule for the transaction's user (it was counted for someone
    else: an older cookie sent again), as the hook counts: committed at once, so the count stands whatever
    the view does next and no bucket row stays locked while it runs (the caller loads its transaction
    again). The 429 (or 503) to answer, or None."""
    setattr(g, COUNTED_FOR, tx_user_id)
    return _counted(limiter(current_app), _login_checks(current_app.extensions[RULES_KEY], tx_user_id))


def client_checks(rules: dict, endpoint: str, ip: str | None, client_id: str | None) -> list[Check]:
    """The counters of a /token or /introspect request (also for the refresh answered before Flask,
    idp.web.oauth.front_refresh): per address and per claimed client."""
    return _pair(rules, CLIENT_ENDPOINTS[endpoint], ip, f"client:{client_id}" if client_id else None,
                 other_scope="client")


def _pair(rules: dict, rule: str, ip: str | None, other: str | None, other_scope: str = "account") -> list[Check]:
    per_ip, per_other = rules[rule]
    checks = []
    if per_ip is not None:
        checks.append(Check(rule, "ip", ip or "unknown", per_ip))
    if per_other is not None and other:
        checks.append(Check(rule, other_scope, other, per_other))
    return checks


# who a request is counted for (idp.fast_lookup: compiled once)
_TRANSACTION_USER = Lookup(sa.select(LoginTransaction.user_id).where(
    LoginTransaction.handle_digest == sa.bindparam("digest"), LoginTransaction.status == "active"))
_SESSION_USER = Lookup(sa.select(BrowserSession.user_id).where(
    BrowserSession.sid == sa.bindparam("sid"), BrowserSession.ended_at.is_(None)))


def _transaction_user() -> int | None:
    """The user of this browser's active login transaction (read in the request's own session)."""
    handle = session.get(TX_SESSION_KEY)
    if not handle:
        return None
    row = _TRANSACTION_USER.first_in(db(), digest=digest(handle))
    return None if row is None else row.user_id


def _signed_in_user() -> int | None:
    """The user of this browser's session (flask-login keeps the browser session's sid in the cookie)."""
    sid = session.get("_user_id")
    if not sid:
        return None
    row = _SESSION_USER.first_in(db(), sid=sid)
    return None if row is None else row.user_id


def claimed_client_id(header: str, form: Mapping[str, str]) -> str | None:
    """Who the client says it is (not yet verified: only a key for counting), from the Authorization header
    and the form."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            return unquote(decoded.split(":", 1)[0])[:200] or None
    if form.get("client_id"):
        return form["client_id"][:200]
    assertion = form.get("client_assertion") or ""
    parts = assertion.split(".")
    if len(parts) == 3 and len(assertion) <= MAX_ASSERTION_BYTES:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            if isinstance(claims, dict) and isinstance(claims.get("iss"), str):
                return claims["iss"][:200]
        except (binascii.Error, ValueError, RecursionError):  # deep nesting: RecursionError
            return None
    return None


def _note_refusal(verdict: Verdict) -> None:
    from idp.web.context import client_ip
    from idp.web.observability import metrics

    for check in verdict.exceeded:
        metrics.rate_limit_hit(check.rule, check.scope)
    scopes = ",".join(f"{c.rule}/{c.scope}" for c in verdict.exceeded)
    log.warning("rate limit reached: %s on %s from %s; retry after %ss", scopes, request.endpoint,
                client_ip(), verdict.retry_after)


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = -(-minutes // 60)
    return f"{hours} hours"


def too_many(verdict: Verdict) -> Response:
    wait = wait_text(verdict.retry_after)
    if request.endpoint in JSON_ENDPOINTS:
        response = jsonify(error="too_many_requests",
                           error_description=f"Too many requests from this client or address; retry after "
                                             f"{verdict.retry_after} seconds.")
        response.headers["Cache-Control"] = "no-store"
    else:
        response = Response(render_template("too_many_requests.html", title="Too many attempts", wait=wait,
                                            back=request.endpoint in LOGIN_ENDPOINTS | SEND_ENDPOINTS))
    response.status_code = 429
    response.headers["Retry-After"] = str(verdict.retry_after)
    return response


def _unavailable() -> Response:
    if request.endpoint in JSON_ENDPOINTS:
        response = jsonify(error="temporarily_unavailable",
                           error_description="The service cannot check its rate limits right now; try again shortly.")
    else:
        response = Response(render_template(
            "error.html", title="Temporarily unavailable",
            message="The service cannot check its limits right now. Nothing was changed. Please try again in a minute."))
    response.status_code = 503
    response.headers["Retry-After"] = "30"
    return response


def api_refusal(rule: str, keys: list[tuple[str, str | None]], what: str) -> tuple[int, int] | None:
    """For the bearer-token APIs (SCIM, administration): count this request under `rule` for each (scope,
    key) whose limit is configured — ("ip", address), ("token" or "client", value) — and return (status,
    retry-after seconds) to refuse with: 429 over a limit, 503 when the limiter cannot be reached (fails
    closed); None to go on. The caller words the answer in its own protocol's error format."""
    counters = limiter(current_app)
    if counters is None:
        return None
    config = current_app.extensions["idp"].config
    limits = dict(zip(("ip", "other"), rules_from_config(config.rate_limit)[rule], strict=True))
    checks = [Check(rule, scope, key, limits["ip" if scope == "ip" else "other"])
              for scope, key in keys if key and limits["ip" if scope == "ip" else "other"]]
    if not checks:
        return None
    try:
        verdict = counters.hit(checks, db())
    except LimiterUnavailable as exc:
        log.error("rate limiter unavailable, refusing a %s request: %s", what, exc)
        return 503, 30
    return None if verdict.allowed else (429, verdict.retry_after)
