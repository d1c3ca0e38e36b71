"""Condition `group = ["name", ...]`: the user is a member of at least one of these groups."""
from __future__ import annotations

from ..condition_values import NamesCondition, facts, listing, who
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class Group(NamesCondition):
    kind = "group"
    description = "the user is a member of at least one of the listed groups"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        shared = facts(ctx).groups(ctx) & set(self.names)
        if shared:
            return Verdict(True, f"{name} is in group {listing(shared)}")
        return Verdict(False, f"{name} is in none of the groups: {listing(self.names)}")
