"""Condition `exempt = true|false`: the organisation requires 2FA but the user is on its exempt list."""
from __future__ import annotations

from ..condition_values import FlagCondition, enforcement_words, facts, who
from ..context import FlowContext
from ..facts import Enforcement
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class Exempt(FlagCondition):
    kind = "exempt"
    description = "the user (or one of their groups) is exempt from the organisation's 2FA requirement"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        status = facts(ctx).enforcement(ctx)
        exempt = status.state is Enforcement.EXEMPT
        return Verdict(exempt == self.expected, enforcement_words(name, status))
