"""Condition `organisation = ["slug", ...]`: the user belongs to one of these organisations."""
from __future__ import annotations

from ..condition_values import NamesCondition, facts, listing, who
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class Organisation(NamesCondition):
    kind = "organisation"
    description = "the user belongs to one of the listed organisations (by slug)"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        slug = facts(ctx).organisation(ctx)
        if slug in self.names:
            return Verdict(True, f"{name} belongs to organisation {slug}")
        return Verdict(False, f"{name} belongs to organisation {slug}, not one of: {listing(self.names)}")
