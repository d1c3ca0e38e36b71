"""The stages of `enrol_second_factor` (no step here): each stage's page data and form handler.

Stages: verify_email → choose → totp | email_code | sms_phone → sms_code → codes. The new factor stays
pending until the person confirms they saved their recovery codes, so the sign-in cannot move on to
another step half-way. Step state holds ids and flags only; the recovery codes are encrypted there."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from idp import audit
from idp.factors import codes, enrolled, recovery, totp
from idp.factors.notify import notify_security_event
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.models import SecondFactor

from . import _second_factor as sf

METHODS = {
    "totp": ("Authenticator App", "Codes are made offline by an app on your phone (Google "
             "Authenticator, Microsoft Authenticator, Authy), not vulnerable to SIM-swapping or email account "
             "compromise."),
    "email": ("Email", "A code is emailed to you each time you sign in. For people without a smartphone."),
    "sms": ("SMS", "A code is texted to your phone each time you sign in. A fallback when email is not available."),
}
ALIASES = {"email_otp": "email", "sms_otp": "sms", "authenticator": "totp"}
GONE = "This set-up is no longer current (perhaps it was started again elsewhere). Choose a method again."
SAVE_FIRST = "Tick \u201cI have saved my recovery codes\u201d once they are somewhere safe."


def methods(ctx: FlowContext) -> list[str]:
    """The methods this person may set up: the organisation's allowed ones (empty = all) that work here."""
    allowed = {ALIASES.get(m, m) for m in (ctx.user.organisation.allowed_methods or [])} or set(METHODS)
    working = {"totp": True, "email": ctx.services.mailer.enabled, "sms": ctx.services.sms.enabled}
    return [m for m in METHODS if m in allowed and working[m]]


def _stage(ctx: FlowContext, stage: str, **values: Any) -> Outcome:
    ctx.step_state.update(stage=stage, **values)
    return Outcome.challenge()


def _pending(ctx: FlowContext, key: str = "factor") -> SecondFactor | None:
    factor_id = ctx.step_state.get(key)
    return None if factor_id is None else ctx.db.scalar(sa.select(SecondFactor).where(
        SecondFactor.id == factor_id, SecondFactor.user_id == ctx.user.id, SecondFactor.confirmed_at.is_(None)))


def _code_outcome(ctx: FlowContext, check: codes.CodeCheck, method: str) -> Outcome | None:
    """None when the code was right; otherwise the RETRY (a wrong code counts) or ABORT (now locked)."""
    if check.ok:
        sf.succeeded(ctx)
        return None
    if check.wrong_code:
        return sf.failed(ctx, method, check.message)
    return Outcome.retry(check.message or codes.GONE, counts_as_failure=False)


# --- sending codes ----------------------------------------------------------------------------------
def send(ctx: FlowContext, resent: bool = False) -> Outcome:
    """The code of the current stage: to the account's address (verify_email) or the new factor."""
    stage = ctx.step_state.get("stage")
    if stage == "verify_email":
        result = codes.send_code(ctx.db, ctx.services, ctx.user, None, "confirm")
    elif stage in ("email_code", "sms_code") and (factor := _pending(ctx)) is not None:
        result = codes.send_code(ctx.db, ctx.services, ctx.user, factor, "enrol")
    else:
        return Outcome.retry("There is no code to send on this page.", counts_as_failure=False)
    challenge = result.challenge_id
    if not result.ok and result.retry_after and not resent and stage == "verify_email":
        challenge = codes.open_challenge(ctx.db, ctx.services, ctx.user, None, "confirm")   # started again
    if challenge is None:
        return Outcome.retry(result.message or codes.NOT_SENT, counts_as_failure=False)
    ctx.step_state["challenge"] = challenge
    return Outcome.challenge(resent=resent)


# --- form handlers ------------------------------------------------------------------------------------
def submit_verify_email(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    check = codes.check_code(ctx.db, ctx.services, ctx.user, ctx.step_state.get("challenge"), form.get("code") or "")
    refused = _code_outcome(ctx, check, "enrol_email_check")
    if refused is not None:
        return refused
    ctx.step_state.pop("challenge", None)
    return _stage(ctx, "choose", email_verified=True)


def submit_choose(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    if ctx.services.mailer.enabled and not ctx.step_state.get("email_verified"):
        return Outcome.retry("First confirm the code sent to your email address.", counts_as_failure=False)
    method = form.get("method") or ""
    if method not in methods(ctx):
        return Outcome.retry("Choose one of the methods shown.", counts_as_failure=False)
    if method == "totp":
        return _stage(ctx, "totp", factor=totp.start_enrolment(ctx.db, ctx.services, ctx.user).id)
    if method == "sms":
        return _stage(ctx, "sms_phone")
    if ctx.step_state.get("email_verified"):
        factor = enrolled.new_pending(ctx.db, ctx.user, "email", ctx.user.email)
        return _verified(ctx, factor)
    factor, sent = enrolled.start_email_enrolment(ctx.db, ctx.services, ctx.user)
    if not sent.ok:
        return Outcome.retry(sent.message or codes.NOT_SENT, counts_as_failure=False)
    return _stage(ctx, "email_code", factor=factor.id, challenge=sent.challenge_id)


def submit_totp(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    factor = _pending(ctx)
    if factor is None:
        _stage(ctx, "choose")
        return Outcome.retry(GONE, counts_as_failure=False)
    check = totp.verify(ctx.db, ctx.services, factor, form.get("code") or "", ctx.now)
    if check.ok:
        return _verified(ctx, factor)
    message = totp.ENROL_WRONG if check.message in (totp.WRONG, totp.REPLAYED) else check.message
    return Outcome.retry(message or totp.ENROL_WRONG, counts_as_failure=False)


def submit_sms_phone(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    phone = (form.get("phone") or "").strip()[:40]
    try:
        factor, sent = enrolled.start_sms_enrolment(ctx.db, ctx.services, ctx.user, phone)
    except enrolled.FactorError as exc:
        return Outcome.retry(str(exc), counts_as_failure=False, phone=phone)
    if not sent.ok:
        return Outcome.retry(sent.message or codes.NOT_SENT, counts_as_failure=False, phone=phone)
    return _stage(ctx, "sms_code", factor=factor.id, challenge=sent.challenge_id)


def submit_sent_code(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    """email_code and sms_code: the code sent to the new address or number."""
    factor = _pending(ctx)
    if factor is None:
        _stage(ctx, "choose")
        return Outcome.retry(GONE, counts_as_failure=False)
    check = codes.check_code(ctx.db, ctx.services, ctx.user, ctx.step_state.get("challenge"), form.get("code") or "")
    refused = _code_outcome(ctx, check, f"enrol_{factor.kind}")
    return refused if refused is not None else _verified(ctx, factor)


def _verified(ctx: FlowContext, factor: SecondFactor) -> Outcome:
    """The new factor works: make recovery codes and show them once (encrypted in the step state)."""
    new_codes = recovery.generate(ctx.db, ctx.services, ctx.user)
    sealed = ctx.services.kek.encrypt(json.dumps(new_codes).encode()).decode("ascii")
    ctx.step_state.pop("challenge", None)
    return _stage(ctx, "codes", verified=factor.id, codes=sealed)


def submit_codes(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    """"I have saved my recovery codes": only now the factor becomes active and the step succeeds."""
    if form.get("saved") != "yes":
        return Outcome.retry(SAVE_FIRST, counts_as_failure=False)
    factor = _pending(ctx, "verified")
    if factor is None:
        _stage(ctx, "choose")
        return Outcome.retry(GONE, counts_as_failure=False)
    enrolled.activate(ctx.db, ctx.user, factor)
    ctx.step_state.pop("codes", None)
    audit.record(ctx.db, "second_factor_enrolled", sf.actor(ctx), organisation_id=ctx.user.organisation_id,
                 target_user_id=ctx.user.id, target=ctx.user.email,
                 details={"method": factor.kind, "factor_id": factor.id, "during": "sign_in"})
    notify_security_event(ctx.services, ctx.user, "factor_added")
    return Outcome.success("sms" if factor.kind == "sms" else "otp")


HANDLERS = {"verify_email": submit_verify_email, "choose": submit_choose, "totp": submit_totp,
            "email_code": submit_sent_code, "sms_phone": submit_sms_phone, "sms_code": submit_sent_code,
            "codes": submit_codes}


# --- page data ------------------------------------------------------------------------------------------
def view(ctx: FlowContext) -> dict[str, Any]:
    stage = ctx.step_state.get("stage", "choose")
    data: dict[str, Any] = {"stage": stage, "minutes": ctx.config.otp.code_ttl_minutes, **sf.help_view(ctx)}
    if stage == "verify_email":
        data.update(target=ctx.user.email, sent="challenge" in ctx.step_state)
    elif stage == "choose":
        data["methods"] = [{"value": m, "label": METHODS[m][0], "description": METHODS[m][1],
                            "recommended": m == "totp"} for m in methods(ctx)]
    elif stage == "totp":
        data.update(_totp_view(ctx))
    elif stage in ("email_code", "sms_code") and (factor := _pending(ctx)) is not None:
        mask = enrolled.mask_email if factor.kind == "email" else enrolled.mask_phone
        data.update(target=mask(factor.target or ""), channel=factor.kind)
    elif stage == "codes":
        data.update(_codes_view(ctx))
    return data


def _totp_view(ctx: FlowContext) -> dict[str, Any]:
    factor = _pending(ctx)
    if factor is None:
        return {}
    uri = totp.enrolment_uri(ctx.services, ctx.user, factor)
    return {"qr": totp.qr_svg(uri), "secret": totp.grouped(totp.factor_secret(ctx.services, factor)), "uri": uri,
            "digits": factor.digits, "account": ctx.user.email, "issuer": ctx.config.totp.issuer}


def _codes_view(ctx: FlowContext) -> dict[str, Any]:
    sealed = ctx.step_state.get("codes")
    if not sealed:
        return {"codes": []}
    listed = json.loads(ctx.services.kek.decrypt(sealed.encode("ascii")))
    text = (f"{ctx.config.totp.issuer} recovery codes for {ctx.user.email}\n"
            "Each code works once. Keep them somewhere safe.\n\n" + "\n".join(listed) + "\n")
    return {"codes": listed, "download": "data:text/plain;charset=utf-8," + quote(text),
            "filename": f"{ctx.config.totp.issuer.lower().replace(' ', '-')}-recovery-codes.txt"}
