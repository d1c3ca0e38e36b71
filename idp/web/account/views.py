"""Profile > Security for the signed-in user: the overview, the method chooser, and "Confirm it's you"."""
from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for
from flask_login import login_required

from idp import audit
from idp.clock import now
from idp.enforcement import enforcement_status
from idp.factors import codes, recovery, registry, verification
from idp.factors.kinds import totp as authenticator
from idp.factors.verification import Attempt
from idp.flow.facts import Enforcement
from idp.models import SecondFactor
from idp.notices import notify_security_event
from idp.web.context import actor, attempt_client, client_ip, db, services

from . import bp
from .common import (
    STEP_UP_MINUTES,
    allowed_methods,
    factors,
    labels,
    mark_proved,
    proof_binding,
    remember_return,
    return_link,
    safe_next,
    target_text,
    user,
)
from .sections import security_sections

WRONG_RECOVERY = "That recovery code is not right, or it was already used."
WRONG_PASSWORD = "That password is not right."


@bp.get("/")
@login_required
def profile() -> Response:
    return redirect(url_for("account.security"))


@bp.get("/security")
@login_required
def security() -> str:
    remember_return()
    person = user()
    active = factors()
    status = enforcement_status(db(), person, now())
    return render_template(
        "account/security.html", user=person, factors=active, labels=labels(), target_text=target_text,
        recovery_left=recovery.remaining(db(), person) if active else None,
        recovery_total=recovery.COUNT, recovery_used=request.args.get("recovery_used") == "1",
        can_enrol=bool(allowed_methods(person)), required=status.state is not Enforcement.OFF
        and status.state is not Enforcement.EXEMPT, status=status, back=return_link(),
        **security_sections(person))


@bp.get("/security/enable")
@login_required
def enable() -> str:
    """"Enable Two-Factor Authentication": the methods this person may set up, Authenticator App first."""
    person = user()
    have = {f.kind for f in factors()}
    methods = [registry.factor_type(m) for m in allowed_methods(person)]
    return render_template("account/enable.html", user=person, methods=methods, have=have,
                           labels=labels())


# --------------------------------------------------------------------------- confirm it's you (step-up)

@bp.get("/security/confirm")
@login_required
def confirm() -> str:
    return _confirm_page()


def _confirm_page(errors: dict[str, str] | None = None, sent: dict[int, int] | None = None,
                  status: int = 200) -> tuple[str, int]:
    person = user()
    active = factors()
    if sent is None:
        sent = {}
        factor_id, challenge_id = request.args.get("factor", type=int), request.args.get("challenge", type=int)
        if factor_id and challenge_id:
            sent[factor_id] = challenge_id
    page = render_template("account/confirm.html", user=person, factors=active, labels=labels(),
                           target_text=target_text, next=safe_next(request.values.get("next")),
                           errors=errors or {}, sent=sent, minutes=STEP_UP_MINUTES,
                           has_password=person.password_hash is not None,
                           has_recovery=bool(active) and recovery.remaining(db(), person) > 0)
    return page, status


def _own_factor(factor_id: int | None) -> SecondFactor | None:
    return next((f for f in factors() if f.id == factor_id), None)


@bp.post("/security/confirm/send")
@login_required
def confirm_send() -> Response:
    """Send a code to one of the person's email/SMS factors, to confirm it's them."""
    factor = _own_factor(request.form.get("factor_id", type=int))
    if factor is None or factor.kind not in registry.names(sends_code=True):
        return _confirm_page({"general": "That method is no longer set up. Choose another one."}, status=400)
    result = codes.send_code(db(), services(), user(), factor, "confirm", bound_to=proof_binding())
    if not result.ok:
        return _confirm_page({f"f{factor.id}": result.message}, status=429 if result.retry_after else 503)
    return redirect(url_for("account.confirm", next=safe_next(request.form.get("next")), factor=factor.id,
                            challenge=result.challenge_id))


@bp.post("/security/confirm")
@login_required
def confirm_submit() -> Response:
    person = user()
    method = request.form.get("method", "")
    current = now()
    key = _error_key(method)
    sent = {}
    if method == "code" and request.form.get("challenge_id", type=int):
        sent[request.form.get("factor_id", type=int)] = request.form.get("challenge_id", type=int)
    result = verification.verify(db(), services(), person, current, method=f"{method} (confirm it's you)",
                                 actor=actor(f"user:{person.email}"), check=lambda: _check(method, current),
                                 client=attempt_client(),
                                 wording=verification.PASSWORDS if method == "password" else verification.CODES)
    if not result.ok:
        return _confirm_page({key: result.message}, sent, 429 if result.refused_before_checking else 400)
    mark_proved()
    audit.record(db(), "step_up", actor(f"user:{person.email}"), organisation_id=person.organisation_id,
                 target_user_id=person.id, target=person.email, details={"method": method})
    if method == "recovery":
        notify_security_event(services(), person, "recovery_code_used")
    return redirect(safe_next(request.form.get("next")))


class _ProofContext:
    """What a factor type's own check reads (db, services, user, now), for a proof in Profile > Security."""

    def __init__(self, person, current) -> None:  # noqa: ANN001
        self.db, self.services, self.user, self.now = db(), services(), person, current
        self.ip, self.user_agent = client_ip(), request.headers.get("User-Agent")


def _error_key(method: str) -> str:
    if method == "code":
        return f"f{request.form.get('factor_id', type=int)}"
    return method if method in ("password", *registry.names(sends_code=False)) else "general"


def _check(method: str, current) -> Attempt:  # noqa: ANN001
    """The proof the form carries, compared (under the row lock the code-checking service holds)."""
    person = user()
    code = request.form.get("code", "")
    active = factors()
    if method == "password":
        if active:
            return Attempt(False, "Confirm with your second factor or a recovery code.")
        if not request.form.get("password"):
            return Attempt(False, "Enter your password.")
        ok = services().passwords.verify(person.password_hash, request.form.get("password", ""))
        return Attempt(ok, None if ok else WRONG_PASSWORD, counts=not ok)
    if method == "totp":
        factor = next((f for f in active if f.kind == "totp"), None)
        if factor is None:
            return Attempt(False, "You have no authenticator app set up. Choose another way.")
        return authenticator.check(_ProofContext(person, current), factor, code)
    if method == "code":
        factor = _own_factor(request.form.get("factor_id", type=int))
        if factor is None or factor.kind not in registry.names(sends_code=True):
            return Attempt(False, "That method is no longer set up. Choose another one.")
        result = codes.check_code(db(), services(), person, request.form.get("challenge_id", type=int), code,
                                  bound_to=proof_binding())
        if result.ok:
            factor.last_used_at = current
        return Attempt(result.ok, result.message, counts=result.wrong_code, new_code_needed=result.new_code_needed)
    if method == "recovery":
        if not active:
            return Attempt(False, "Recovery codes work only while two-factor authentication is on.")
        if not code.strip():
            return Attempt(False, "Enter one of your recovery codes.")
        ok = recovery.consume(db(), services(), person, code)
        return Attempt(ok, None if ok else WRONG_RECOVERY, counts=not ok)
    return Attempt(False, "Choose how to confirm it's you.")
