"""Condition `second_factor_enrolled = true|false`: whether the user has any second factor set up."""
from __future__ import annotations

from ..condition_values import FlagCondition, facts, who
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class SecondFactorEnrolled(FlagCondition):
    kind = "second_factor_enrolled"
    description = "the user has (true) or has not (false) set up a second factor"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        enrolled = facts(ctx).second_factor_enrolled(ctx)
        reason = f"{name} has a second factor enrolled" if enrolled else f"{name} has no second factor enrolled"
        return Verdict(enrolled == self.expected, reason)
