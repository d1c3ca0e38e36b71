"""Factor `recovery` (step type `recovery_code`): one of the person's saved one-time recovery codes, when their
device is lost. Not a factor of its own: it comes with the first second factor and cannot be allowed apart."""
from __future__ import annotations

from collections.abc import Mapping

from idp import audit
from idp.enforcement import has_second_factor
from idp.factors import recovery
from idp.factors import step_outcomes as sf
from idp.factors.registry import FactorType, register_factor
from idp.factors.verification import Attempt
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.notices import notify_security_event

AFTER_LOGIN = "/account/security?recovery_used=1"
WRONG = ("That recovery code is not right, or it was already used. Recovery codes look like 7kq2-m9xd-4hpa; "
         "each works once.")


@register_factor
class RecoveryCode(FactorType):
    kind = "recovery_code"
    factor = "recovery"
    title = "Use a recovery code instead"
    label = "Recovery codes"
    in_a_sentence = "recovery codes"
    order = 9
    selectable = False
    template = "steps/recovery_code.html"
    amr = ("otp",)

    def is_applicable(self, ctx: FlowContext) -> bool:
        user = ctx.user
        return user is not None and has_second_factor(ctx.db, user) and recovery.remaining(ctx.db, user) > 0

    def begin(self, ctx: FlowContext) -> Outcome:
        return sf.locked(ctx) or Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict:
        return sf.help_view(ctx)

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        """SUCCESS carries `after_login` (send the person to Profile > Security) and the codes left."""
        refused = sf.verified(ctx, self.factor, lambda: check(ctx, form.get("code") or ""))
        if refused is not None:
            return refused
        left = recovery.remaining(ctx.db, ctx.user)
        audit.record(ctx.db, "recovery_code_used", sf.actor(ctx), organisation_id=ctx.user.organisation_id,
                     target_user_id=ctx.user.id, target=ctx.user.email, details={"remaining": left})
        notify_security_event(ctx.services, ctx.user, "recovery_code_used")
        return Outcome.success(*self.amr, after_login=AFTER_LOGIN, recovery_codes_left=left)


def check(ctx: object, code: str) -> Attempt:
    """One recovery code, used up if right; a blank answer is not a guess."""
    if not code.strip():
        return Attempt(False, "Enter one of your recovery codes.")
    ok = recovery.consume(ctx.db, ctx.services, ctx.user, code)
    return Attempt(ok, None if ok else WRONG, counts=not ok)
