"""Condition `provider = ["name", ...]`: the person came through one of these upstream providers ("local": none)."""
from __future__ import annotations

from ..condition_values import NamesCondition, listing
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition

LOCAL = "local"


@register_condition
class Provider(NamesCondition):
    kind = "provider"
    description = 'the person signed in through one of the listed upstream providers ("local" means none)'

    def evaluate(self, ctx: FlowContext) -> Verdict:
        current = ctx.provider if ctx.provider is not None else LOCAL
        how = "locally (no upstream provider)" if current == LOCAL else f"through provider {current}"
        if current in self.names:
            return Verdict(True, f"the person signed in {how}")
        return Verdict(False, f"the person signed in {how}, not through: {listing(self.names)}")
