"""Condition `mfa_proved = true|false`: this sign-in has already proved two factors (its amr says "mfa"),
for example with a passkey (possession + PIN or biometric at once), or a step-up of a session that did."""
from __future__ import annotations

from ..condition_values import FlagCondition
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class MfaProved(FlagCondition):
    kind = "mfa_proved"
    description = "this sign-in has already proved two factors (for example a passkey with its PIN or biometric)"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        proved = "mfa" in ctx.amr
        reason = ("this sign-in already proved two factors" if proved
                  else "this sign-in has not proved two factors yet")
        return Verdict(proved == self.expected, reason)
