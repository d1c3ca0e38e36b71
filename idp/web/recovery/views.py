"""Forgot password → an emailed single-use link → a new password → sign in normally (second factor included);
and the link that verifies (or changes) the account's email address. Links open a page with a button:
mail scanners that fetch links never use them up."""
from __future__ import annotations

from flask import Response, render_template, request
from flask_login import current_user

from idp.account_recovery import RecoveryError, passwords
from idp.account_recovery import email as email_addresses
from idp.web.context import actor, client_ip, db, services

from . import bp


def _signed_in():  # noqa: ANN202
    return current_user._get_current_object() if current_user.is_authenticated else None


@bp.get("/forgot-password")
def forgot() -> str:
    return render_template("recovery/forgot.html", title="Forgot your password?", email="", error=None,
                           mail=services().mailer.enabled)


@bp.post("/forgot-password")
def forgot_submit() -> Response | str | tuple[str, int]:
    address = (request.form.get("email") or "").strip()[:320]
    if "@" not in address:
        return render_template("recovery/forgot.html", title="Forgot your password?", email=address,
                               error="Enter the email address of your account.", mail=services().mailer.enabled), 400
    passwords.request_reset(db(), services(), address, ip=client_ip())
    return render_template("recovery/forgot_sent.html", title="Check your email", email=address,
                           minutes=int(passwords.RESET_TTL.total_seconds() // 60))


@bp.get("/reset-password/<token>")
def reset(token: str) -> str | tuple[str, int]:
    try:
        user = passwords.reset_user(db(), token)
    except RecoveryError as err:
        return _invalid(str(err))
    return render_template("recovery/reset.html", title="Choose a new password", token=token, email=user.email,
                           error=None)


@bp.post("/reset-password/<token>")
def reset_submit(token: str) -> str | tuple[str, int]:
    try:
        user = passwords.reset_user(db(), token)
    except RecoveryError as err:
        return _invalid(str(err))
    try:
        passwords.reset_password(db(), services(), token, request.form.get("password") or "",
                                 request.form.get("confirm") or "", actor(f"user:{user.email}"),
                                 email=request.form.get("username"))
    except RecoveryError as err:
        if str(err) in (passwords.INVALID_LINK, passwords.OTHER_ACCOUNT):
            return _invalid(str(err))
        return render_template("recovery/reset.html", title="Choose a new password", token=token,
                               email=user.email, error=str(err)), 400
    return render_template("recovery/reset_done.html", title="Your password was changed")


@bp.get("/verify-email/<token>")
def verify_email(token: str) -> str | tuple[str, int]:
    try:
        user, address = email_addresses.pending(db(), token)
    except RecoveryError as err:
        return _invalid(str(err), what="email")
    signed_in = _signed_in()
    if signed_in is not None and signed_in.id != user.id:
        return _invalid(email_addresses.OTHER_ACCOUNT, what="email")
    return render_template("recovery/verify.html", title="Confirm your email address", token=token, address=address,
                           changing=address != user.email)


@bp.post("/verify-email/<token>")
def verify_email_submit(token: str) -> str | tuple[str, int]:
    signed_in = _signed_in()
    try:
        user = email_addresses.verify(db(), services(), token, signed_in,
                                      actor(f"user:{signed_in.email}" if signed_in else "anonymous"))
    except RecoveryError as err:
        return _invalid(str(err), what="email")
    return render_template("recovery/verified.html", title="Email address confirmed", address=user.email,
                           signed_in=signed_in is not None)


def _invalid(message: str, what: str = "password") -> tuple[str, int]:
    return render_template("recovery/invalid.html", title="This link cannot be used", message=message,
                           what=what), 400
