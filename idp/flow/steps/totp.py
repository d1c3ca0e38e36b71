"""Step `totp`: the current code of the person's authenticator app (RFC 6238)."""
from __future__ import annotations

from collections.abc import Mapping

from idp import audit
from idp.factors import enrolled, totp
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step

from . import _second_factor as sf


@register_step
class TotpStep(Step):
    kind = "totp"
    title = "Authenticator App"
    template = "steps/totp.html"
    amr = ("otp",)
    second_factor = True

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is not None and enrolled.active_factor(ctx.db, ctx.user, "totp") is not None

    def begin(self, ctx: FlowContext) -> Outcome:
        return sf.locked(ctx) or Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict:
        factor = enrolled.active_factor(ctx.db, ctx.user, "totp")
        return {"digits": factor.digits if factor else 6, **sf.help_view(ctx)}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        refused = sf.locked(ctx)
        if refused is not None:
            return refused
        factor = enrolled.active_factor(ctx.db, ctx.user, "totp")
        if factor is None:
            return Outcome.abort("The authenticator app of this account was removed. Start signing in again.")
        check = totp.verify(ctx.db, ctx.services, factor, form.get("code") or "", ctx.now)
        if check.ok:
            sf.succeeded(ctx)
            return Outcome.success(*self.amr)
        if check.drift_steps is not None:
            audit.record(ctx.db, "totp_clock_drift", sf.actor(ctx), organisation_id=ctx.user.organisation_id,
                         target_user_id=ctx.user.id, target=ctx.user.email, outcome="failure",
                         details={"drift_steps": check.drift_steps,
                                  "drift_seconds": check.drift_steps * factor.period})
        return sf.failed(ctx, self.kind, check.message)
