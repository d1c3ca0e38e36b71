"""Condition `acr_requested = ["acr", ...]`: the application asked for one of these authentication levels."""
from __future__ import annotations

from ..condition_values import NamesCondition, listing
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class AcrRequested(NamesCondition):
    kind = "acr_requested"
    description = "the application asked (acr_values) for one of the listed authentication levels"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        asked = [acr for acr in ctx.acr_values if acr in self.names]
        if asked:
            return Verdict(True, f"the application asked for {listing(asked)}")
        if not ctx.acr_values:
            return Verdict(False, "the application asked for no authentication level")
        return Verdict(False, f"the application asked for {listing(ctx.acr_values)}, not one of: {listing(self.names)}")
