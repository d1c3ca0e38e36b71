"""Condition `browser_remembered = true|false`: the person ticked "Don't ask again on this browser" here
earlier, and that choice still stands (idp.browser.remembered checked the browser's cookie for ctx.user).
Never true when the application demands a fresh sign-in (acr_values asking for MFA, max_age,
prompt=login): the web layer fills `ctx.browser_remembered` accordingly; anywhere else it is false."""
from __future__ import annotations

from ..condition_values import FlagCondition, who
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class BrowserRemembered(FlagCondition):
    kind = "browser_remembered"
    description = ("the person chose \"Don't ask again on this browser\" here and it still stands "
                   "(never when the application asks for a fresh or MFA sign-in)")

    def evaluate(self, ctx: FlowContext) -> Verdict:
        name = who(ctx, self.kind)
        if ctx.browser_remembered:
            return Verdict(self.expected, f"this browser is remembered for {name}")
        return Verdict(not self.expected, f"this browser is not remembered for {name} (or the application "
                                          "asked for a fresh sign-in)")
