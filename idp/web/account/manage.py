"""Changing what is set up: remove a second factor, "Regenerate Recovery Codes" (both need a fresh proof),
and "Download" of codes that are on the person's screen right now (the server keeps no copy to hand out)."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from idp.clock import now
from idp.enforcement import exemption
from idp.factors import enrolled, recovery, recovery_file
from idp.web.attachments import text_attachment
from idp.web.context import db, services

from . import bp
from .common import done, factors, fresh_proof_required, labels, record_change, target_text, user


def _removable(factor_id: int):  # noqa: ANN202
    factor = next((f for f in factors() if f.id == factor_id), None)
    if factor is None:
        flash("That method is not set up on your account (any more).", "error")
    return factor


def _last_and_required(factor_id: int) -> bool:
    """Removing this factor would leave no second factor while the organisation requires one."""
    person = user()
    others = [f for f in factors() if f.id != factor_id]
    return not others and person.organisation.require_2fa and exemption(person) is None


@bp.get("/security/factors/<int:factor_id>/remove")
@login_required
@fresh_proof_required()
def remove(factor_id: int) -> Response | str:
    factor = _removable(factor_id)
    if factor is None:
        return redirect(url_for("account.security"))
    return render_template("account/remove.html", factor=factor, label=labels().get(factor.kind, factor.kind),
                           target=target_text(factor), last=len(factors()) == 1,
                           blocked=_last_and_required(factor_id))


@bp.post("/security/factors/<int:factor_id>/remove")
@login_required
@fresh_proof_required()
def remove_submit(factor_id: int) -> Response:
    factor = _removable(factor_id)
    if factor is None:
        return redirect(url_for("account.security"))
    if _last_and_required(factor_id):
        flash("Your organisation requires two-factor authentication: set up another method first. "
              "Setting up a new authenticator app replaces the old one.", "error")
        return redirect(url_for("account.remove", factor_id=factor_id))
    kind, label = factor.kind, labels().get(factor.kind, factor.kind)
    enrolled.remove_factor(db(), user(), factor_id)
    record_change("second_factor_removed", kind=kind, factor_id=factor_id)
    return done(f"{label} was removed from your account.")


@bp.get("/security/recovery-codes/regenerate")
@login_required
@fresh_proof_required()
def regenerate() -> Response | str:
    if not factors():
        flash("Recovery codes are for two-factor authentication: set up a second factor first.", "error")
        return redirect(url_for("account.security"))
    return render_template("account/regenerate.html", left=recovery.remaining(db(), user()))


@bp.post("/security/recovery-codes/regenerate")
@login_required
@fresh_proof_required()
def regenerate_submit() -> Response | str:
    if not factors():
        flash("Recovery codes are for two-factor authentication: set up a second factor first.", "error")
        return redirect(url_for("account.security"))
    new_codes = recovery.generate(db(), services(), user())
    record_change("recovery_codes_regenerated", count=len(new_codes))
    return render_template("account/recovery_codes.html", codes=new_codes, first=False, label=None)


@bp.post("/security/recovery-codes/download")
@login_required
def download() -> Response:
    """The codes shown on the page, as a text file: posted back by the page itself (never stored readable)."""
    body = recovery_file.text(services().config.totp.issuer, user().email, request.form.get("codes", ""), now())
    return text_attachment(body, recovery_file.FILE_NAME)
