"""Step `grace_notice`: the organisation requires 2FA and the user still has some days to set it up.

A non-blocking reminder ("You have N days left to set up two-factor authentication") with "Set it up
now" and "Continue". It proves nothing (amr ()); policies run it with `requirement = "conditional"` and
`when = { grace_period = true }`. "Set it up now" on a sign-in to the identity provider itself finishes the
sign-in and then opens Profile > Security's set-up (`after_login`); on a sign-in to an application it is
a link to that page (the application's sign-in is not completed then)."""
from __future__ import annotations

from collections.abc import Mapping

from idp.flow.context import FlowContext
from idp.flow.facts import Enforcement
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step

SET_UP = "/account/security/enable"   # Profile > Security > Enable Two-Factor Authentication


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
        return {"days_left": days, "sentence": days_left_sentence(days), "organisation": organisation,
                "for_application": ctx.client_id is not None}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        setup = form.get("action") == "setup" and ctx.client_id is None
        return Outcome.success(after_login=SET_UP if setup else None)
