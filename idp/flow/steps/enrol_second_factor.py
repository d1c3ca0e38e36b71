"""Step `enrol_second_factor`: set up a first second factor inside the sign-in (forced enrolment).

When email works, it starts by confirming a code sent to the account's address, so a stolen password
alone cannot enrol the thief's authenticator. Then: pick a method, confirm it, save recovery codes."""
from __future__ import annotations

from collections.abc import Mapping

from idp.enforcement import has_second_factor
from idp.factors import step_outcomes as sf
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step

from . import _enrolment as stages

STALE = "That page was out of date. Here is where the set-up stands now."


@register_step
class EnrolSecondFactorStep(Step):
    kind = "enrol_second_factor"
    title = "Set up two-factor authentication"
    template = "steps/enrol_second_factor.html"
    amr = ("otp",)
    second_factor = True

    def is_applicable(self, ctx: FlowContext) -> bool:
        """Only for someone with no confirmed second factor, and when some method can be offered."""
        return ctx.user is not None and not has_second_factor(ctx.db, ctx.user) and bool(stages.methods(ctx))

    def begin(self, ctx: FlowContext) -> Outcome:
        refused = sf.locked(ctx)
        if refused is not None:
            return refused
        if ctx.services.mailer.enabled:
            ctx.step_state["stage"] = "verify_email"
            return stages.send(ctx)
        ctx.step_state["stage"] = "choose"
        return Outcome.challenge()

    def resend(self, ctx: FlowContext) -> Outcome:
        """Resendable: the code of the current stage again (throttled)."""
        return sf.locked(ctx) or stages.send(ctx, resent=True)

    def view(self, ctx: FlowContext) -> dict:
        return stages.view(ctx)

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        stage = ctx.step_state.get("stage")
        if stage is None or form.get("stage") != stage:
            return Outcome.retry(STALE, counts_as_failure=False)
        if form.get("action") == "back" and stages.chosen(ctx) is not None:
            ctx.step_state.update(stage="choose")
            ctx.step_state.pop("challenge", None)
            return Outcome.challenge()
        return stages.handler(stage)(ctx, form)
