"""Shared by `email_otp` and `sms_otp` (no step here): send a code, resend it, check it (SideChannelDevice)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from idp.factors import codes, enrolled
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.models import SecondFactor

from . import _second_factor as sf

NO_CODE = "No code has been sent yet. Use \u201cSend a new code\u201d."


class SideChannelStep(Step):
    """A code sent through the user's confirmed factor of kind `channel`; subclasses set names only."""

    channel: ClassVar[str]                       # "email" | "sms"
    template = "steps/sent_code.html"
    second_factor = True

    def _factor(self, ctx: FlowContext) -> SecondFactor | None:
        return enrolled.active_factor(ctx.db, ctx.user, self.channel)

    def _channel_enabled(self, ctx: FlowContext) -> bool:
        sender = ctx.services.mailer if self.channel == "email" else ctx.services.sms
        return bool(sender.enabled)

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is not None and self._channel_enabled(ctx) and self._factor(ctx) is not None

    def begin(self, ctx: FlowContext) -> Outcome:
        return sf.locked(ctx) or self._send(ctx)

    def resend(self, ctx: FlowContext) -> Outcome:
        """Resendable: a new code (throttled); the earlier one stops working."""
        return sf.locked(ctx) or self._send(ctx, resent=True)

    def _send(self, ctx: FlowContext, resent: bool = False) -> Outcome:
        factor = self._factor(ctx)
        if factor is None:
            return Outcome.abort("This sign-in method was removed from the account. Start signing in again.")
        result = codes.send_code(ctx.db, ctx.services, ctx.user, factor, "login")
        challenge = result.challenge_id
        if not result.ok and result.retry_after and not resent:   # started again: use the code just sent
            challenge = codes.open_challenge(ctx.db, ctx.services, ctx.user, factor)
        if challenge is None:
            return Outcome.retry(result.message or codes.NOT_SENT, counts_as_failure=False)
        ctx.step_state["challenge"] = challenge
        return Outcome.challenge(resent=resent)

    def view(self, ctx: FlowContext) -> dict[str, Any]:
        factor = self._factor(ctx)
        target = factor.target if factor else ""
        masked = enrolled.mask_email(target) if self.channel == "email" else enrolled.mask_phone(target)
        return {"channel": self.channel, "target": masked, "sent": "challenge" in ctx.step_state,
                "digits": codes.DIGITS, "minutes": ctx.config.otp.code_ttl_minutes, **sf.help_view(ctx)}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        refused = sf.locked(ctx)
        if refused is not None:
            return refused
        if "challenge" not in ctx.step_state:
            return Outcome.retry(NO_CODE, counts_as_failure=False)
        check = codes.check_code(ctx.db, ctx.services, ctx.user, ctx.step_state["challenge"], form.get("code") or "")
        if check.ok:
            sf.succeeded(ctx)
            return Outcome.success(*self.amr)
        if check.wrong_code:
            return sf.failed(ctx, self.kind, check.message)
        return Outcome.retry(check.message or codes.GONE, counts_as_failure=False)
