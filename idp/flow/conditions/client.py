"""Condition `client = ["client_id", ...]`: the sign-in is for one of these applications."""
from __future__ import annotations

from ..condition_values import NamesCondition, listing
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class Client(NamesCondition):
    kind = "client"
    description = "the sign-in is for one of the listed applications (OIDC client ids)"

    def evaluate(self, ctx: FlowContext) -> Verdict:
        if ctx.client_id is None:
            return Verdict(False, "the sign-in is not for any application")
        if ctx.client_id in self.names:
            return Verdict(True, f"the sign-in is for application {ctx.client_id}")
        return Verdict(False, f"the sign-in is for application {ctx.client_id}, not one of: {listing(self.names)}")
