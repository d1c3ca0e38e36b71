"""Profile > Security > "Where you're signed in" (sign out one browser, or every other one) and
"Remembered browsers" ("Don't ask again on this browser": forget one, or all)."""
from __future__ import annotations

from flask import Response, flash, redirect, url_for
from flask_login import login_required

from idp import audit
from idp.browser import listing as signed_in
from idp.browser import remembered
from idp.models import User
from idp.web.context import actor, db

from . import bp
from .common import browser_session, user


def section(person: User) -> dict:
    """What the Security page shows about browsers."""
    return {"sessions": signed_in.listing(db(), person, browser_session().sid),
            "remembered": remembered.listed(db(), person), "describe_agent": signed_in.describe_agent,
            "remember_days": remembered.days_allowed(person)}


def _back() -> Response:
    return redirect(url_for("account.security") + "#signed-in")


def _record(event: str, **details: object) -> None:
    person = user()
    audit.record(db(), event, actor(f"user:{person.email}"), organisation_id=person.organisation_id,
                 target_user_id=person.id, target=person.email, details=details)


@bp.post("/security/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int) -> Response:
    if session_id == browser_session().id:
        flash("To sign out this browser, use \u201cSign out\u201d in the account menu.", "error")
        return _back()
    row = signed_in.end_one(db(), user(), session_id)
    if row is None:
        flash("That browser is already signed out.", "error")
        return _back()
    _record("session_ended", session_id=session_id, by="the user (Profile > Security)")
    flash(f"{signed_in.describe_agent(row.user_agent)} is signed out.", "ok")
    return _back()


@bp.post("/security/sessions/end-others")
@login_required
def end_other_sessions() -> Response:
    ended = signed_in.end_others(db(), user(), browser_session().sid)
    _record("sessions_ended", count=ended, by="the user (Profile > Security): everywhere else")
    flash(f"Signed out everywhere else ({ended} browser{'' if ended == 1 else 's'}).", "ok")
    return _back()


@bp.post("/security/remembered/<int:row_id>/forget")
@login_required
def forget_browser(row_id: int) -> Response:
    if remembered.forget(db(), user(), row_id):
        _record("remembered_browser_forgotten", remembered_browser_id=row_id)
        flash("That browser will ask for your second factor again.", "ok")
    else:
        flash("That browser is not remembered (any more).", "error")
    return redirect(url_for("account.security") + "#remembered")


@bp.post("/security/remembered/forget-all")
@login_required
def forget_all_browsers() -> Response:
    count = remembered.forget_all(db(), user().id)
    _record("remembered_browser_forgotten", count=count, all=True)
    flash("Every browser will ask for your second factor again.", "ok")
    return redirect(url_for("account.security") + "#remembered")
