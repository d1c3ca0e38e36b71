"""Condition `admin = true|false`: whether the user is an administrator of the identity provider."""
from __future__ import annotations

from ..condition_values import FlagCondition, facts, who
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class Admin(FlagCondition):
    kind = "admin"
    description = "the user is (true) or is not (false) an administrator"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        admin = facts(ctx).is_admin(ctx)
        reason = f"{name} is an administrator" if admin else f"{name} is not an administrator"
        return Verdict(admin == self.expected, reason)
