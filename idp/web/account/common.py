"""What every Profile > Security page shares: the signed-in user and browser session, the methods this
user may enrol, fresh proof for sensitive changes, audit + notification of changes, the way back to an app."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, flash, redirect, request, session, url_for
from flask_login import current_user

from idp import audit
from idp.browser import sessions
from idp.clock import now
from idp.factors import binding, enrolled, registry
from idp.models import BrowserSession, Client, SecondFactor, User
from idp.notices import notify_security_event
from idp.web.context import actor, db, services

STEP_UP_MINUTES = 5
RETURN_KEY = "account_return"
NOTICES = {  # audit event → notify_security_event key
    "second_factor_enrolled": "factor_added",
    "second_factor_removed": "factor_removed",
    "recovery_codes_regenerated": "recovery_codes_generated",
}


def user() -> User:
    return current_user._get_current_object()  # the row loaded in this request's db session


def browser_session() -> BrowserSession:
    row = sessions.active(db(), current_user.get_id())
    if row is None:          # signed out elsewhere between the user loader and here
        abort(401)
    return row


def factors() -> list[SecondFactor]:
    return enrolled.active_factors(db(), user())


def labels() -> dict[str, str]:
    """Each factor type's name as the manual writes it, by factor name (for the templates)."""
    return {cls.factor: cls.label for cls in registry.factor_types()}


def allowed_methods(person: User) -> list[str]:
    """The methods this person may set up from Profile > Security: the organisation's choice (empty = all)
    that this server can use (idp.factors.registry.enrollable: the same rule as inside a sign-in)."""
    return [cls.factor for cls in registry.enrollable(services(), person.organisation.allowed_methods)
            if cls.enrol_endpoint]


def target_text(factor: SecondFactor) -> str:
    cls = registry.factor_type(factor.kind)
    return cls.describe(factor) if cls is not None else factor.name or factor.kind


def proof_binding() -> str:
    """A code sent to "Confirm it's you" answers this browser session's confirmation only."""
    return binding.binding(binding.PROOF, browser_session().sid)


def enrol_binding() -> str:
    """A set-up code answers this browser session's set-up only."""
    return binding.binding(binding.PROFILE_ENROL, browser_session().sid)


def check_binding() -> str:
    """The first-set-up email check answers this browser session only."""
    return binding.binding(binding.PROFILE_CHECK, browser_session().sid)


# --------------------------------------------------------------------------- fresh proof

def proved_at(row: BrowserSession, has_factor: bool) -> datetime | None:
    """When this browser last proved it is the person: a confirmation on Profile > Security, or the sign-in
    itself when it proved what is needed now (a second factor if the person has one, else the password)."""
    candidates = [row.step_up_at] if row.step_up_at else []
    proved = set(row.amr or [])
    if has_factor:
        proved.discard("pwd")      # a password alone is not enough once a second factor is set up
    if proved:
        candidates.append(row.auth_time)
    return max(candidates) if candidates else None


def is_fresh() -> bool:
    at = proved_at(browser_session(), bool(factors()))
    return at is not None and now() - at < timedelta(minutes=STEP_UP_MINUTES)


def mark_proved() -> None:
    browser_session().step_up_at = now()
    rotate_session()


def rotate_session() -> None:
    """Give this browser a new session id after a privilege change (the page's own state stays)."""
    from flask_login import login_user

    row = sessions.rotate(db(), browser_session())
    row.user.session_sid = row.sid
    login_user(row.user, fresh=True)


def fresh_proof_required(back: str | None = None, *, only_when_enrolled: bool = False
                         ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Sensitive changes need a proof from the last few minutes; otherwise confirm first, then come back to
    the page (`back`: the endpoint to return to after a stale POST; default the same address, as a GET).
    A POST that arrives stale is not carried out: the person confirms and presses the button again.
    `only_when_enrolled`: for the first set-up (no second factor yet) the password session is not proof
    enough either — a stolen password must not let a thief enrol their own authenticator: when email works,
    a code sent to the account's address must have been confirmed in this browser session first."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            target = request.full_path.rstrip("?") if request.method == "GET" else \
                (url_for(back) if back else request.path)
            if only_when_enrolled and not factors():
                if services().mailer.enabled and not email_checked():
                    return redirect(url_for("account.email_check", next=target))
            elif not is_fresh():
                return redirect(url_for("account.confirm", next=target))
            return view(*args, **kwargs)
        return wrapper
    return decorate


def email_checked() -> bool:
    at = browser_session().email_checked_at
    return at is not None and now() - at < timedelta(minutes=STEP_UP_MINUTES)


def safe_next(target: str | None) -> str:
    """Only pages of Profile > Security may be returned to after a confirmation."""
    if target and target.startswith("/account/") and "//" not in target and "\\" not in target:
        return target
    return url_for("account.security")


# --------------------------------------------------------------------------- audit + notice

def record_change(event: str, **details: Any) -> None:
    """Audit a change to the person's own security settings and email them a notice about it."""
    person = user()
    audit.record(db(), event, actor(f"user:{person.email}"), organisation_id=person.organisation_id,
                 target_user_id=person.id, target=person.email, details=details)
    notify_security_event(services(), person, NOTICES[event])
    rotate_session()


def done(message: str) -> Any:
    flash(message, "ok")
    return redirect(url_for("account.security"))


# --------------------------------------------------------------------------- back to the application

def remember_return() -> None:
    """`?client_id=...&return_to=URI` on Profile > Security: kept for this browser while it is one of
    that client's registered URIs; anything else is ignored (never an open redirect)."""
    if "client_id" not in request.args and "return_to" not in request.args:
        return
    link = _checked(request.args.get("client_id"), request.args.get("return_to"))
    if link is None:
        session.pop(RETURN_KEY, None)
    else:
        session[RETURN_KEY] = {"client_id": request.args["client_id"], "return_to": link[1]}


def return_link() -> tuple[str, str] | None:
    """(client name, URI) for a "Back to <client name>" link, re-checked against the registration now."""
    kept = session.get(RETURN_KEY)
    if not isinstance(kept, dict):
        return None
    return _checked(kept.get("client_id"), kept.get("return_to"))


def _checked(client_id: str | None, return_to: str | None) -> tuple[str, str] | None:
    if not client_id or not return_to or len(return_to) > 2000:
        return None
    client = db().scalar(sa.select(Client).where(Client.client_id == client_id, Client.is_active.is_(True)))
    if client is None or client.organisation_id not in (None, user().organisation_id):
        return None
    registered = [*(client.redirect_uris or []), *(client.post_logout_redirect_uris or [])]
    if return_to not in registered or urlsplit(return_to).scheme not in ("http", "https"):
        return None
    return client.name, return_to
