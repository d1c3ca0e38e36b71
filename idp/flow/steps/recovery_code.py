"""Step `recovery_code`: one of the person's saved one-time recovery codes, when their device is lost."""
from __future__ import annotations

from collections.abc import Mapping

from idp import audit
from idp.enforcement import has_second_factor
from idp.factors import recovery
from idp.factors.notify import notify_security_event
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step

from . import _second_factor as sf

AFTER_LOGIN = "/account/security?recovery_used=1"
WRONG = ("That recovery code is not right, or it was already used. Recovery codes look like 7kq2-m9xd-4hpa; "
         "each works once.")


@register_step
class RecoveryCodeStep(Step):
    kind = "recovery_code"
    title = "Use a recovery code instead"
    template = "steps/recovery_code.html"
    amr = ("otp",)
    second_factor = True

    def is_applicable(self, ctx: FlowContext) -> bool:
        user = ctx.user
        return user is not None and has_second_factor(ctx.db, user) and recovery.remaining(ctx.db, user) > 0

    def begin(self, ctx: FlowContext) -> Outcome:
        return sf.locked(ctx) or Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict:
        return sf.help_view(ctx)

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        """SUCCESS carries `after_login` (send the person to Profile > Security) and the codes left."""
        refused = sf.locked(ctx)
        if refused is not None:
            return refused
        if not recovery.consume(ctx.db, ctx.services, ctx.user, form.get("code") or ""):
            return sf.failed(ctx, self.kind, WRONG)
        sf.succeeded(ctx)
        left = recovery.remaining(ctx.db, ctx.user)
        audit.record(ctx.db, "recovery_code_used", sf.actor(ctx), organisation_id=ctx.user.organisation_id,
                     target_user_id=ctx.user.id, target=ctx.user.email, details={"remaining": left})
        notify_security_event(ctx.services, ctx.user, "recovery_code_used")
        return Outcome.success(*self.amr, after_login=AFTER_LOGIN, recovery_codes_left=left)
