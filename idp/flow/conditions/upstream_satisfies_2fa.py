"""Condition `upstream_satisfies_2fa = true|false`: the upstream provider's sign-in counts as the second
factor, by the provider's scenario (`second_factor`: upstream, stack, upstream-or-local) and the MFA its
ID token proved. Raises (the sign-in stops) when the provider is not configured: never guesses."""
from __future__ import annotations

from idp.federation import providers
from idp.federation.scenarios import decide

from ..condition_values import FlagCondition
from ..context import FlowContext
from ..protocols import Verdict
from ..registry import register_condition


@register_condition
class UpstreamSatisfies2fa(FlagCondition):
    kind = "upstream_satisfies_2fa"
    description = ("the upstream provider's sign-in counts as the second factor (its scenario: SSO only, "
                   "SSO + local 2FA, or local 2FA unless the provider proved MFA)")

    def evaluate(self, ctx: FlowContext) -> Verdict:
        if ctx.provider is None:
            return Verdict(self.expected is False, "the person signed in here (no upstream provider): local 2FA "
                                                   "applies in full")
        provider = providers.get(ctx.db, ctx.config, ctx.provider)   # UnknownProvider: fail closed
        holds, reason = decide(provider, ctx.upstream, mfa_requested=ctx.config.policy.acr_mfa in ctx.acr_values)
        return Verdict(holds == self.expected, reason)
