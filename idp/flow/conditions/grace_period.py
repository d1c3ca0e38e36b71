"""Condition `grace_period = true|false`: the user must enrol a second factor but still has time left."""
from __future__ import annotations

from ..condition_values import FlagCondition, enforcement_words, facts, who
from ..context import FlowContext
from ..facts import Enforcement
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class GracePeriod(FlagCondition):
    kind = "grace_period"
    description = "the user is inside the grace period to enrol a second factor"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        status = facts(ctx).enforcement(ctx)
        in_grace = status.state is Enforcement.GRACE
        return Verdict(in_grace == self.expected, enforcement_words(name, status))
