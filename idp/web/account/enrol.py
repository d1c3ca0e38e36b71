"""Setting up a second factor from Profile > Security: Authenticator App (QR code + code), Email (test code
to the account's address), SMS (phone number, test code). The first set-up shows recovery codes once."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from idp.clock import now
from idp.factors import codes, enrolled, recovery, registry, totp, verification
from idp.factors.enrolled import FactorError
from idp.factors.verification import Attempt
from idp.models import SecondFactor, User
from idp.web.context import actor, attempt_client, db, services

from . import bp
from .common import (
    allowed_methods,
    done,
    enrol_binding,
    factors,
    fresh_proof_required,
    labels,
    mark_proved,
    record_change,
    user,
)

GONE = "This set-up is no longer current (perhaps it was started again elsewhere). Start the set-up again."


def _refused(method: str) -> Response | None:
    if method in allowed_methods(user()):
        return None
    flash(f"{labels().get(method, method)} is not available for your account. Choose another method.", "error")
    return redirect(url_for("account.enable"))


# --------------------------------------------------------------------------- Authenticator App

@bp.post("/security/enable/totp")
@login_required
@fresh_proof_required("account.enable", only_when_enrolled=True)
def enable_totp() -> Response:
    if refused := _refused("totp"):
        return refused
    factor = totp.start_enrolment(db(), services(), user())
    return redirect(url_for("account.authenticator", factor_id=factor.id))


@bp.get("/security/authenticator/<int:factor_id>")
@login_required
@fresh_proof_required("account.enable", only_when_enrolled=True)
def authenticator(factor_id: int) -> Response | str:
    factor = totp.pending_factor(db(), user(), factor_id)
    if factor is None:
        flash(GONE, "error")
        return redirect(url_for("account.enable"))
    return _authenticator_page(factor)


def _authenticator_page(factor: SecondFactor, error: str | None = None, status: int = 200) -> tuple[str, int]:
    secret = totp.factor_secret(services(), factor)
    uri = totp.enrolment_uri(services(), user(), factor)
    return render_template("account/totp.html", factor=factor, qr=totp.qr_svg(uri), secret=totp.grouped(secret),
                           issuer=services().config.totp.issuer, error=error), status


@bp.post("/security/authenticator/<int:factor_id>")
@login_required
@fresh_proof_required("account.enable", only_when_enrolled=True)
def authenticator_confirm(factor_id: int) -> Response | tuple[str, int]:
    person = user()
    factor = totp.pending_factor(db(), person, factor_id)
    if factor is None:
        flash(GONE, "error")
        return redirect(url_for("account.enable"))
    before = factors()
    check = totp.confirm_enrolment(db(), services(), person, factor_id, request.form.get("code", ""))
    if not check.ok:
        return _authenticator_page(factor, check.message, 400)
    return _enrolled(factor, before)


# --------------------------------------------------------------------------- Email and SMS

@bp.post("/security/enable/email")
@login_required
@fresh_proof_required("account.enable", only_when_enrolled=True)
def enable_email() -> Response:
    if refused := _refused("email"):
        return refused
    factor, sent = enrolled.start_email_enrolment(db(), services(), user(), bound_to=enrol_binding())
    return _after_send(factor, sent)


@bp.get("/security/enable/sms")
@login_required
@fresh_proof_required(only_when_enrolled=True)
def enable_sms() -> Response | str:
    if refused := _refused("sms"):
        return refused
    return render_template("account/sms.html", phone="", error=None)


@bp.post("/security/enable/sms")
@login_required
@fresh_proof_required("account.enable_sms", only_when_enrolled=True)
def enable_sms_submit() -> Response | tuple[str, int]:
    if refused := _refused("sms"):
        return refused
    phone = (request.form.get("phone") or "").strip()[:40]
    if not phone:
        return render_template("account/sms.html", phone=phone, error="Enter your mobile phone number."), 400
    try:
        factor, sent = enrolled.start_sms_enrolment(db(), services(), user(), phone, bound_to=enrol_binding())
    except FactorError as exc:
        return render_template("account/sms.html", phone=phone, error=str(exc)), 400
    return _after_send(factor, sent)


def _after_send(factor: SecondFactor, sent: codes.SendResult) -> Response:
    if not sent.ok:
        flash(sent.message, "error")
    return redirect(url_for("account.verify", factor_id=factor.id, challenge=sent.challenge_id))


def _confirm_sent(person: "User", factor_id: int, challenge_id: int | None, code: str) -> Attempt:
    check = enrolled.confirm_side_channel_enrolment(db(), services(), person, factor_id, challenge_id, code,
                                                    bound_to=enrol_binding())
    return Attempt(check.ok, check.message, counts=check.wrong_code, new_code_needed=check.new_code_needed)


def _pending_side_channel(factor_id: int) -> SecondFactor | None:
    return db().scalar(sa.select(SecondFactor).where(
        SecondFactor.id == factor_id, SecondFactor.user_id == user().id, SecondFactor.confirmed_at.is_(None),
        SecondFactor.kind.in_(registry.names(sends_code=True))))


@bp.get("/security/verify/<int:factor_id>")
@login_required
@fresh_proof_required("account.enable", only_when_enrolled=True)
def verify(factor_id: int) -> Response | tuple[str, int]:
    factor = _pending_side_channel(factor_id)
    if factor is None:
        flash(GONE, "error")
        return redirect(url_for("account.enable"))
    return _verify_page(factor, request.args.get("challenge", type=int))


def _verify_page(factor: SecondFactor, challenge_id: int | None, error: str | None = None,
                 status: int = 200) -> tuple[str, int]:
    return render_template("account/verify.html", factor=factor, label=labels().get(factor.kind, factor.kind),
                           challenge_id=challenge_id, error=error), status


@bp.post("/security/verify/<int:factor_id>")
@login_required
@fresh_proof_required("account.enable", only_when_enrolled=True)
def verify_submit(factor_id: int) -> Response | tuple[str, int]:
    person = user()
    factor = _pending_side_channel(factor_id)
    if factor is None:
        flash(GONE, "error")
        return redirect(url_for("account.enable"))
    challenge_id = request.form.get("challenge_id", type=int)
    before = factors()
    result = verification.verify(
        db(), services(), person, now(), method=f"enrol_{factor.kind}", actor=actor(f"user:{person.email}"),
        check=lambda: _confirm_sent(person, factor_id, challenge_id, request.form.get("code", "")), client=attempt_client())
    check = result
    if not check.ok:
        return _verify_page(factor, challenge_id, check.message, 400)
    return _enrolled(factor, before)


@bp.post("/security/verify/<int:factor_id>/resend")
@login_required
@fresh_proof_required("account.enable", only_when_enrolled=True)
def verify_resend(factor_id: int) -> Response | tuple[str, int]:
    factor = _pending_side_channel(factor_id)
    if factor is None:
        flash(GONE, "error")
        return redirect(url_for("account.enable"))
    sent = codes.send_code(db(), services(), user(), factor, "enrol", bound_to=enrol_binding())
    if not sent.ok:
        return _verify_page(factor, request.form.get("challenge_id", type=int), sent.message, 429)
    flash("A new code is on its way. Earlier codes no longer work.", "ok")
    return redirect(url_for("account.verify", factor_id=factor.id, challenge=sent.challenge_id))


# --------------------------------------------------------------------------- done

def _enrolled(factor: SecondFactor, before: list[SecondFactor]) -> Response | str:
    """A factor was confirmed: audit, notice, and on the first set-up the recovery codes, shown this once."""
    person = user()
    replaced = [f.id for f in before if f.kind == factor.kind and f.id != factor.id]
    record_change("second_factor_enrolled", kind=factor.kind, factor_id=factor.id, replaced=replaced)
    if not before:
        mark_proved()   # the first factor's code, entered after the email check, proves it is the person
    if before and recovery.remaining(db(), person) > 0:
        return done(f"{labels().get(factor.kind, factor.kind)} is set up. You will be asked for a code when you sign in.")
    new_codes = recovery.generate(db(), services(), person)
    return render_template("account/recovery_codes.html", codes=new_codes, first=not before,
                           label=labels().get(factor.kind, factor.kind))
