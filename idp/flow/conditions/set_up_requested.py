"""Condition `set_up_requested = true|false`: the person chose "Set it up now" in this sign-in."""
from __future__ import annotations

from ..condition_values import FlagCondition
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class SetUpRequested(FlagCondition):
    kind = "set_up_requested"
    description = "the person chose \u201cSet it up now\u201d on the grace notice of this sign-in"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        asked = ctx.set_up_second_factor
        reason = ("they chose to set up a second factor now" if asked
                  else "they did not choose to set up a second factor in this sign-in")
        return Verdict(asked == self.expected, reason)
