"""A tiny second step for testing the login pipeline's web glue without any real factor."""
from __future__ import annotations

from typing import Any

from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step


@register_step
class PinStep(Step):
    kind = "test_pin"
    title = "PIN"
    template = "steps/test_pin.html"
    amr = ("pin",)

    def is_applicable(self, ctx: FlowContext) -> bool:
        return True

    def begin(self, ctx: FlowContext) -> Outcome:
        return Outcome.challenge()

    def submit(self, ctx: FlowContext, form: Any) -> Outcome:
        return Outcome.success("pin") if form.get("pin") == "2468" else Outcome.retry("Wrong PIN.")
