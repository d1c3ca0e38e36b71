"""Factor `totp` (step type `totp`): the current code of the person's authenticator app (RFC 6238)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp import audit
from idp.factors import enrolled, totp
from idp.factors import step_outcomes as sf
from idp.factors.enrolment import Enrolment
from idp.factors.registry import FactorType, register_factor
from idp.factors.verification import Attempt
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome

REMOVED = "The authenticator app of this account was removed. Start signing in again."


@register_factor
class Authenticator(FactorType):
    kind = "totp"
    factor = "totp"
    title = label = "Authenticator App"
    in_a_sentence = "an authenticator app"
    order = 0
    admin_label = "Authenticator App (TOTP)"
    description = ("A code from an app on your phone (Google Authenticator, Microsoft Authenticator, Authy). "
                   "Codes are made offline, so they are not vulnerable to SIM-swapping or email account compromise.")
    recommended = True
    enrol_in_sign_in = True
    enrol_endpoint = "account.enable_totp"
    template = "steps/totp.html"
    amr = ("otp",)

    @classmethod
    def describe(cls, row: Any) -> str:
        return f"{row.digits}-digit codes from your app"

    enrol_stages = ("totp",)

    def enrol_begin(self, enrolment: Enrolment) -> Outcome:
        ctx = enrolment.ctx
        return enrolment.stage("totp", factor=totp.start_enrolment(ctx.db, ctx.services, ctx.user).id)

    def enrol_submit(self, enrolment: Enrolment, stage: str, form: Mapping[str, str]) -> Outcome:
        """The first code from the app: a wrong one is not counted (the person is still scanning)."""
        factor = enrolment.pending()
        if factor is None:
            return enrolment.restart()
        ctx = enrolment.ctx
        check = totp.verify(ctx.db, ctx.services, factor, form.get("code") or "", ctx.now)
        if check.ok:
            return enrolment.verified(factor)
        message = totp.ENROL_WRONG if check.message in (totp.WRONG, totp.REPLAYED) else check.message
        return Outcome.retry(message or totp.ENROL_WRONG, counts_as_failure=False)

    def enrol_view(self, enrolment: Enrolment, stage: str) -> dict[str, Any]:
        factor, ctx = enrolment.pending(), enrolment.ctx
        if factor is None:
            return {}
        uri = totp.enrolment_uri(ctx.services, ctx.user, factor)
        return {"qr": totp.qr_svg(uri), "secret": totp.grouped(totp.factor_secret(ctx.services, factor)),
                "uri": uri, "digits": factor.digits, "account": ctx.user.email, "issuer": ctx.config.totp.issuer}

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is not None and enrolled.active_factor(ctx.db, ctx.user, "totp") is not None

    def begin(self, ctx: FlowContext) -> Outcome:
        return sf.locked(ctx) or Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict:
        factor = enrolled.active_factor(ctx.db, ctx.user, "totp")
        return {"digits": factor.digits if factor else 6, **sf.help_view(ctx)}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        factor = enrolled.active_factor(ctx.db, ctx.user, "totp")
        if factor is None:
            return Outcome.abort(REMOVED)
        refused = sf.verified(ctx, self.factor, lambda: check(ctx, factor, form.get("code") or ""))
        return refused or Outcome.success(*self.amr)


def check(ctx: Any, factor: Any, code: str) -> Attempt:
    """One authenticator-app code against `factor` (replay-guarded). Every answer that is not right counts as a
    try, whatever its shape (as for sent codes); a code that fits a clock far off is audited so an
    administrator can see the drift the person was told about."""
    result = totp.verify(ctx.db, ctx.services, factor, code, ctx.now)
    if result.drift_steps is not None:
        user = ctx.user
        audit.record(ctx.db, "totp_clock_drift", sf.actor(ctx), organisation_id=user.organisation_id,
                     target_user_id=user.id, target=user.email, outcome="failure",
                     details={"drift_steps": result.drift_steps, "drift_seconds": result.drift_steps * factor.period})
    return Attempt(result.ok, result.message, counts=not result.ok and bool(code.strip()))
