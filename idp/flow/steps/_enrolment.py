"""The stages of `enrol_second_factor` (no step here) that every set-up shares, driving the factor types'.

Stages: verify_email → choose → the chosen factor type's own stages (idp.factors.enrolment) → codes. The new
factor stays pending until the person confirms they saved their recovery codes, so the sign-in cannot move on
to another step half-way. Step state holds ids and flags only; the recovery codes are encrypted there."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from idp import audit
from idp.factors import binding, codes, enrolled, recovery, registry
from idp.factors import step_outcomes as sf
from idp.factors.enrolment import CHOOSE, Enrolment
from idp.factors.side_channel import check as check_sent_code
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.models import SecondFactor
from idp.notices import notify_security_event

VERIFY_EMAIL, CODES = "verify_email", "codes"
SAVE_FIRST = "Tick \u201cI have saved my recovery codes\u201d once they are somewhere safe."


def methods(ctx: FlowContext) -> list[str]:
    """The methods this person may set up here: the organisation's allowed ones (empty = all) that work."""
    return [cls.factor for cls in registry.enrollable(ctx.services, ctx.user.organisation.allowed_methods)
            if cls.enrol_in_sign_in]


def enrolment(ctx: FlowContext) -> Enrolment:
    return Enrolment(ctx, lambda factor: _verified(ctx, factor))


def chosen(ctx: FlowContext) -> Any:
    """The factor type whose own stage is showing, or None (a shared stage)."""
    kind = registry.factor_type(ctx.step_state.get("method") or "")
    return kind() if kind is not None and ctx.step_state.get("stage") in kind.enrol_stages else None


def _check_binding(ctx: FlowContext) -> str:
    return binding.binding(binding.SIGN_IN_CHECK, ctx.transaction_id)


def _stage(ctx: FlowContext, stage: str, **values: Any) -> Outcome:
    ctx.step_state.update(stage=stage, **values)
    return Outcome.challenge()


# --- sending codes ----------------------------------------------------------------------------------
def send(ctx: FlowContext, resent: bool = False) -> Outcome:
    """The code of the current stage: to the account's address (verify_email) or the new factor."""
    stage, kind = ctx.step_state.get("stage"), chosen(ctx)
    if stage == VERIFY_EMAIL:
        result = codes.send_code(ctx.db, ctx.services, ctx.user, None, "confirm", bound_to=_check_binding(ctx))
    elif kind is not None and hasattr(kind, "enrol_resend") and \
            (result := kind.enrol_resend(enrolment(ctx))) is not None:
        pass
    else:
        return Outcome.retry("There is no code to send on this page.", counts_as_failure=False)
    challenge = result.challenge_id
    if not result.ok and result.retry_after and not resent and stage == VERIFY_EMAIL:   # shown again
        challenge = codes.open_challenge(ctx.db, ctx.services, ctx.user, bound_to=_check_binding(ctx))
    if challenge is None:
        return Outcome.retry(result.message or codes.NOT_SENT, counts_as_failure=False)
    ctx.step_state["challenge"] = challenge
    return Outcome.challenge(resent=resent)


# --- form handlers ------------------------------------------------------------------------------------
def submit_verify_email(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    refused = sf.verified(ctx, "enrol_email_check", lambda: check_sent_code(
        ctx, ctx.step_state.get("challenge"), form.get("code") or "", _check_binding(ctx)))
    if refused is not None:
        return refused
    ctx.step_state.pop("challenge", None)
    return _stage(ctx, CHOOSE, email_verified=True)


def submit_choose(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    if ctx.services.mailer.enabled and not ctx.step_state.get("email_verified"):
        return Outcome.retry("First confirm the code sent to your email address.", counts_as_failure=False)
    method = form.get("method") or ""
    if method not in methods(ctx):
        return Outcome.retry("Choose one of the methods shown.", counts_as_failure=False)
    ctx.step_state["method"] = method
    return registry.factor_type(method)().enrol_begin(enrolment(ctx))


def submit_factor_stage(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    """A stage of the chosen factor type's own set-up."""
    kind = chosen(ctx)
    if kind is None:
        return enrolment(ctx).restart()
    return kind.enrol_submit(enrolment(ctx), ctx.step_state["stage"], form)


def _verified(ctx: FlowContext, factor: SecondFactor) -> Outcome:
    """The new factor works: make recovery codes and show them once (encrypted in the step state)."""
    new_codes = recovery.generate(ctx.db, ctx.services, ctx.user)
    sealed = ctx.services.kek.encrypt(json.dumps(new_codes).encode()).decode("ascii")
    ctx.step_state.pop("challenge", None)
    return _stage(ctx, CODES, verified=factor.id, codes=sealed)


def submit_codes(ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
    """"I have saved my recovery codes": only now the factor becomes active and the step succeeds."""
    if form.get("saved") != "yes":
        return Outcome.retry(SAVE_FIRST, counts_as_failure=False)
    factor = enrolment(ctx).pending("verified")
    if factor is None:
        return enrolment(ctx).restart()
    enrolled.activate(ctx.db, ctx.user, factor)
    factor.last_used_at = ctx.now      # it is this sign-in's second factor ("Last used" in Profile and Administration)
    ctx.step_state.pop("codes", None)
    audit.record(ctx.db, "second_factor_enrolled", sf.actor(ctx), organisation_id=ctx.user.organisation_id,
                 target_user_id=ctx.user.id, target=ctx.user.email,
                 details={"method": factor.kind, "factor_id": factor.id, "during": "sign_in"})
    notify_security_event(ctx.services, ctx.user, "factor_added")
    kind = registry.factor_type(factor.kind)
    return Outcome.success(*(kind.amr if kind is not None else ("otp",)))


SHARED = {VERIFY_EMAIL: submit_verify_email, CHOOSE: submit_choose, CODES: submit_codes}


def handler(stage: str) -> Any:
    """The form handler of `stage`: a shared one, or the chosen factor type's."""
    return SHARED.get(stage, submit_factor_stage)


# --- page data ------------------------------------------------------------------------------------------
def view(ctx: FlowContext) -> dict[str, Any]:
    stage = ctx.step_state.get("stage", CHOOSE)
    data: dict[str, Any] = {"stage": stage, "minutes": ctx.config.otp.code_ttl_minutes, **sf.help_view(ctx)}
    if stage == VERIFY_EMAIL:
        data.update(target=ctx.user.email, sent="challenge" in ctx.step_state)
    elif stage == CHOOSE:
        data["methods"] = [{"value": m, "label": cls.label, "description": cls.description,
                            "recommended": cls.recommended}
                           for m in methods(ctx) if (cls := registry.factor_type(m)) is not None]
    elif stage == CODES:
        data.update(_codes_view(ctx))
    elif (kind := chosen(ctx)) is not None:
        data.update(kind.enrol_view(enrolment(ctx), stage))
    return data


def _codes_view(ctx: FlowContext) -> dict[str, Any]:
    sealed = ctx.step_state.get("codes")
    if not sealed:
        return {"codes": []}
    return {"codes": json.loads(ctx.services.kek.decrypt(sealed.encode("ascii")))}
