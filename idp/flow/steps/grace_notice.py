"""Step `grace_notice`: the organisation requires 2FA and the user still has some days to set it up.

A non-blocking reminder ("You have N days left to set up two-factor authentication") with "Set it up
now" and "Continue". It proves nothing (amr ()); policies run it with `requirement = "conditional"` and
`when = { grace_period = true }`. "Set it up now" records the typed fact `set_up_second_factor`: the
policy's second-factor step then applies (`set_up_requested = true`), so the set-up runs inside this same
sign-in (`enrol_second_factor`: the emailed account check first) and the sign-in goes on to where it was
going, the application included."""
from __future__ import annotations

from collections.abc import Mapping

from idp.flow.context import FlowContext
from idp.flow.facts import Enforcement
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step


def days_left_sentence(days: int | None) -> str:
    n = max(1, days or 0)
    return f"You have {n} day{'' if n == 1 else 's'} left to set up two-factor authentication"


@register_step
class GraceNoticeStep(Step):
    kind = "grace_notice"
    title = "Set up two-factor authentication"
    template = "steps/grace_notice.html"
    amr = ()

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is not None

    def begin(self, ctx: FlowContext) -> Outcome:
        return Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict:
        status = ctx.services.facts.enforcement(ctx)
        days = status.days_left if status.state is Enforcement.GRACE else None
        organisation = getattr(getattr(ctx.user, "organisation", None), "name", "") or "Your organisation"
        return {"days_left": days, "sentence": days_left_sentence(days), "organisation": organisation}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        return Outcome.success(set_up_second_factor=form.get("action") == "setup")
