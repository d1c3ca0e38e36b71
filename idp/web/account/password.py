"""Profile > Security > Change password (the current one required; the new one checked against the password
rules) and the account's email address (verify it; change it with a link to the new address)."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from idp.account_recovery import RecoveryError, passwords
from idp.account_recovery import email as email_addresses
from idp.enforcement import has_second_factor
from idp.models import User
from idp.web.context import actor, attempt_client, db, services

from . import bp
from .common import browser_session, done, fresh_proof_required, user


def section(person: User) -> dict:
    return {"has_password": person.password_hash is not None, "mail_enabled": services().mailer.enabled}


def _min_length(person: User) -> int:
    config = services().config.passwords
    return config.min_length if has_second_factor(db(), person) else config.min_length_single_factor


@bp.get("/security/password")
@login_required
def change_password() -> Response | str:
    person = user()
    if person.password_hash is None:
        flash(passwords.NO_PASSWORD, "error")
        return redirect(url_for("account.security"))
    return render_template("account/password.html", error=None, minimum=_min_length(person))


@bp.post("/security/password")
@login_required
def change_password_submit() -> Response | tuple[str, int]:
    person = user()
    try:
        ended = passwords.change_password(db(), services(), person, request.form.get("current_password") or "",
                                          request.form.get("password") or "", request.form.get("confirm") or "",
                                          actor(f"user:{person.email}"), keep_sid=browser_session().sid,
                                          client=attempt_client())
    except RecoveryError as err:
        return render_template("account/password.html", error=str(err), minimum=_min_length(person)), 400
    others = f" {ended} other browser{'' if ended == 1 else 's'} signed out." if ended else ""
    return done(f"Your password was changed.{others}")


@bp.get("/security/email")
@login_required
@fresh_proof_required(only_when_enrolled=True)   # no second factor yet: a code to the CURRENT address first
def change_email() -> str:
    return render_template("account/email.html", user=user(), address="", error=None,
                           mail=services().mailer.enabled)


@bp.post("/security/email")
@login_required
@fresh_proof_required("account.change_email", only_when_enrolled=True)
def change_email_submit() -> Response | tuple[str, int]:
    person = user()
    address = (request.form.get("email") or "").strip()[:320]
    try:
        sent_to = email_addresses.start_change(db(), services(), person, address, actor(f"user:{person.email}"))
    except RecoveryError as err:
        return render_template("account/email.html", user=person, address=address, error=str(err),
                               mail=services().mailer.enabled), 400
    return done(f"We sent a link to {sent_to}. Your email address changes when you open it (within 24 hours).")


@bp.post("/security/email/verify")
@login_required
def send_email_verification() -> Response:
    person = user()
    if person.email_verified:
        return done("Your email address is already confirmed.")
    try:
        email_addresses.send_verification(db(), services(), person, actor(f"user:{person.email}"))
    except RecoveryError as err:
        flash(str(err), "error")
        return redirect(url_for("account.security"))
    return done(f"We sent a link to {person.email}. Open it to confirm your address.")
