"""Before the first second factor is set up from Profile > Security: confirm a code sent to the account's
email address, so a password alone (perhaps a stolen one) cannot enrol someone else's authenticator."""
from __future__ import annotations

from flask import Response, redirect, render_template, request, session, url_for
from flask_login import login_required

from idp.clock import now
from idp.factors import codes, enrolled, verification
from idp.factors.verification import Attempt
from idp.models import User
from idp.web.context import attempt_client

from . import bp
from .common import actor, browser_session, check_binding, db, safe_next, services, user

KEY = "account_email_challenge"


@bp.get("/security/check-email")
@login_required
def email_check() -> str | tuple[str, int]:
    """Send a code to the account's address (once; throttled) and ask for it."""
    person = user()
    if session.get(KEY) is None:
        sent = codes.send_code(db(), services(), person, None, "confirm", bound_to=check_binding())
        if not sent.ok:
            return _page(sent.message, 429 if sent.retry_after else 503)
        session[KEY] = sent.challenge_id
    return _page(None, 200)


@bp.post("/security/check-email")
@login_required
def email_check_submit() -> Response | tuple[str, int]:
    person, current = user(), now()
    result = verification.verify(db(), services(), person, current, method="email (first set-up check)",
                                 actor=actor(f"user:{person.email}"), check=lambda: _compare(person), client=attempt_client())
    if not result.ok:
        if result.new_code_needed:
            session.pop(KEY, None)
        return _page(result.message, 429 if result.refused_before_checking else 400)
    session.pop(KEY, None)
    browser_session().email_checked_at = current
    return redirect(safe_next(request.form.get("next")))


def _compare(person: User) -> Attempt:
    check = codes.check_code(db(), services(), person, session.get(KEY), request.form.get("code", ""),
                             bound_to=check_binding())
    return Attempt(check.ok, check.message, counts=check.wrong_code, new_code_needed=check.new_code_needed)


def _page(error: str | None, status: int) -> tuple[str, int]:
    person = user()
    return render_template("account/email_check.html", target=enrolled.mask_email(person.email), error=error,
                           next=safe_next(request.values.get("next")), sent=session.get(KEY) is not None,
                           again=url_for("account.email_check_resend", next=request.values.get("next"))), status


@bp.post("/security/check-email/resend")
@login_required
def email_check_resend() -> Response:
    session.pop(KEY, None)
    return redirect(url_for("account.email_check", next=safe_next(request.values.get("next"))))
