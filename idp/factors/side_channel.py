"""Shared by the `email` and `sms` factor types: send a code for this sign-in, resend it, check it
(django-otp's SideChannelDevice). The code belongs to this login transaction and is refused anywhere else."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from idp.factors import binding, codes, enrolled
from idp.factors import step_outcomes as sf
from idp.factors.registry import FactorType
from idp.factors.verification import Attempt
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.models import SecondFactor

if TYPE_CHECKING:
    from idp.factors.enrolment import Enrolment

NO_CODE = "No code has been sent yet. Use \u201cSend a new code\u201d."
REMOVED = "This sign-in method was removed from the account. Start signing in again."


def bound_to(ctx: FlowContext) -> str:
    """A sign-in code answers this login transaction only."""
    return binding.binding(binding.SIGN_IN, ctx.transaction_id)


class SideChannelFactor(FactorType):
    """A code sent through the user's confirmed factor of kind `factor` ("email" | "sms")."""

    template = "steps/sent_code.html"
    sends_code = True

    def _factor(self, ctx: FlowContext) -> SecondFactor | None:
        return enrolled.active_factor(ctx.db, ctx.user, self.factor)

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is not None and self.available(ctx.services) and self._factor(ctx) is not None

    # --- set-up inside a sign-in: the code sent to the new address or number ------------------------------
    def enrol_submit(self, enrolment: "Enrolment", stage: str, form: Mapping[str, str]) -> Outcome:
        factor = enrolment.pending()
        if factor is None:
            return enrolment.restart()
        return enrolment.check_sent_code(form, f"enrol_{self.factor}") or enrolment.verified(factor)

    def enrol_view(self, enrolment: "Enrolment", stage: str) -> dict[str, Any]:
        factor = enrolment.pending()
        return {} if factor is None else {"target": self.describe(factor), "channel": self.factor}

    def enrol_resend(self, enrolment: "Enrolment") -> codes.SendResult | None:
        """A new set-up code to the pending factor (None when the set-up went)."""
        factor, ctx = enrolment.pending(), enrolment.ctx
        if factor is None:
            return None
        return codes.send_code(ctx.db, ctx.services, ctx.user, factor, "enrol", bound_to=enrolment.bound_to())

    @staticmethod
    def enrol_sent(enrolment: "Enrolment", stage: str, factor: SecondFactor, sent: codes.SendResult,
                   **view: Any) -> Outcome:
        """After sending the first set-up code: its stage, or why it could not be sent."""
        if not sent.ok:
            return Outcome.retry(sent.message or codes.NOT_SENT, counts_as_failure=False, **view)
        return enrolment.stage(stage, factor=factor.id, challenge=sent.challenge_id)

    def begin(self, ctx: FlowContext) -> Outcome:
        return sf.locked(ctx) or self._send(ctx)

    def resend(self, ctx: FlowContext) -> Outcome:
        """Resendable: a new code (throttled); the earlier one of this sign-in stops working."""
        return sf.locked(ctx) or self._send(ctx, resent=True)

    def _send(self, ctx: FlowContext, resent: bool = False) -> Outcome:
        factor = self._factor(ctx)
        if factor is None:
            return Outcome.abort(REMOVED)
        result = codes.send_code(ctx.db, ctx.services, ctx.user, factor, "login", bound_to=bound_to(ctx))
        challenge = result.challenge_id
        if not result.ok and result.retry_after and not resent:   # shown again: use the code just sent
            challenge = codes.open_challenge(ctx.db, ctx.services, ctx.user, bound_to=bound_to(ctx))
        if challenge is None:
            return Outcome.retry(result.message or codes.NOT_SENT, counts_as_failure=False)
        ctx.step_state["challenge"] = challenge
        return Outcome.challenge(resent=resent)

    def view(self, ctx: FlowContext) -> dict[str, Any]:
        factor = self._factor(ctx)
        return {"channel": self.factor, "target": self.describe(factor) if factor else "",
                "sent": "challenge" in ctx.step_state, "digits": codes.DIGITS,
                "minutes": ctx.config.otp.code_ttl_minutes, **sf.help_view(ctx)}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        refused = sf.locked(ctx)
        if refused is not None:
            return refused
        if "challenge" not in ctx.step_state:
            return Outcome.retry(NO_CODE, counts_as_failure=False)
        factor = self._factor(ctx)
        refused = sf.verified(ctx, self.factor, lambda: check(ctx, ctx.step_state["challenge"], form.get("code") or "",
                                                              bound_to(ctx)))
        if refused is not None:
            return refused
        if factor is not None:
            factor.last_used_at = ctx.now
        return Outcome.success(*self.amr)


def check(ctx: Any, challenge_id: int | None, code: str, bound: str) -> Attempt:
    """One sent code against the challenge it must answer."""
    result = codes.check_code(ctx.db, ctx.services, ctx.user, challenge_id, code, bound_to=bound)
    return Attempt(result.ok, result.message or (None if result.ok else codes.GONE), counts=result.wrong_code,
                   new_code_needed=result.new_code_needed)
