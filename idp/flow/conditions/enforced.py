"""Condition `enforced = true|false`: the user's organisation requires 2FA and the user is not exempt."""
from __future__ import annotations

from ..condition_values import FlagCondition, enforcement_words, facts, who
from ..context import FlowContext
from ..facts import Enforcement
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class Enforced(FlagCondition):
    kind = "enforced"
    description = "the user's organisation requires two-factor authentication and the user is not exempt"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        status = facts(ctx).enforcement(ctx)
        enforced = status.state in (Enforcement.GRACE, Enforcement.REQUIRED)
        return Verdict(enforced == self.expected, enforcement_words(name, status))
