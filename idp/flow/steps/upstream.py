"""Step `upstream`: the person signs in at an upstream OpenID provider (Entra ID, Okta, ...); identifies them.

`begin` sends the browser to the provider chosen for this sign-in (`ctx.provider`: a "Sign in with"
button, or home-realm discovery on the password step) with PKCE, state and nonce kept encrypted in the
step's scratch space. The provider's answer (the callback's query) is this step's `submit`: it is
checked, the code redeemed, the ID token validated, and the person's local account found, linked or
created (idp.federation). The `amr` it proves is what the provider's ID token says it did ("fed" when
it says nothing); `seen` in the scratch space keeps the provider's amr/acr for the 2FA decision."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.federation import accounts as federated_accounts
from idp.federation import login, providers
from idp.federation.discovery import DIRECTORY
from idp.federation.errors import FederationError, UnknownProvider
from idp.federation.login import UpstreamSignIn
from idp.federation.scenarios import proves_mfa
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step
from idp.models import LoginTransaction

FEDERATED = "fed"   # amr when the provider does not say how the person signed in


def upstream_amr(provider: providers.Provider, signed_in: UpstreamSignIn) -> list[str]:
    """The provider's amr values, "mfa" added when its acr proves MFA, "fed" when it said nothing."""
    amr = list(signed_in.amr) or [FEDERATED]
    proven, _ = proves_mfa(provider, signed_in.amr, signed_in.acr)
    if proven and "mfa" not in amr:
        amr.append("mfa")
    return amr


@register_step
class UpstreamStep(Step):
    kind = "upstream"
    title = "Single sign-on"
    template = "federation/upstream.html"
    identifies_user = True

    def is_applicable(self, ctx: FlowContext) -> bool:
        return True

    def begin(self, ctx: FlowContext) -> Outcome:
        if ctx.provider is None:
            return Outcome.challenge()   # the page offers the providers; choosing one starts again here
        try:
            provider = providers.get(ctx.db, ctx.config, ctx.provider)
            metadata = DIRECTORY.metadata(provider)
        except UnknownProvider:
            return self._abort(ctx, _gone(ctx.provider))
        except FederationError as err:
            return self._abort(ctx, err, provider.name)
        request = _request(ctx)
        prompt = "login" if "login" in request.get("prompt", "").split() else None
        mfa_asked = ctx.config.policy.acr_mfa in ctx.acr_values
        url, pending = login.start(
            provider, metadata, ctx.services.kek, login.callback_url(ctx.config.issuer), now=ctx.now,
            prompt=prompt, max_age=_max_age(request.get("max_age")),
            acr_values=provider.mfa_acr_values if mfa_asked else (),
            login_hint=ctx.login_hint or (ctx.user.email if ctx.user is not None else None))
        ctx.step_state.clear()
        ctx.step_state["pending"] = pending
        return Outcome.external(url)

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        pending = ctx.step_state.pop("pending", None)
        try:
            provider = providers.get(ctx.db, ctx.config, ctx.provider)
        except UnknownProvider:
            return self._abort(ctx, _gone(ctx.provider))
        try:
            signed_in = login.finish(provider, ctx.services.kek, pending, dict(form.items()), now=ctx.now)
            user, how = federated_accounts.resolve(ctx.db, ctx.services.passwords, ctx.config, provider, signed_in,
                                                   expected_user=ctx.user)
        except FederationError as err:
            return self._abort(ctx, err, provider.name)
        seen = {"provider": provider.name, "amr": list(signed_in.amr), "acr": signed_in.acr,
                "auth_time": signed_in.auth_time, "tenant": signed_in.tenant, "account": how}
        return Outcome.success(*upstream_amr(provider, signed_in), user_id=user.id, upstream=seen)

    def view(self, ctx: FlowContext) -> dict[str, Any]:
        chosen = providers.find(ctx.db, ctx.config, ctx.provider)
        choices = [(p.name, p.display_name) for p in providers.all_providers(ctx.db, ctx.config, enabled_only=True)]
        return {"provider": chosen.name if chosen else None,
                "display_name": chosen.display_name if chosen else None, "providers": choices}

    @staticmethod
    def _abort(ctx: FlowContext, err: FederationError, name: str | None = None) -> Outcome:
        ctx.step_state.pop("pending", None)
        return Outcome.abort(err.message, failure={"provider": name or ctx.provider, "problem": err.problem,
                                                   "detail": err.detail})


def _gone(name: str | None) -> FederationError:
    return FederationError("This way of signing in is no longer available. Please start again.",
                           "unknown_provider", f"provider {name!r} is not configured (or disabled)")


def _request(ctx: FlowContext) -> dict[str, str]:
    """The application's authorization request (prompt, max_age) this sign-in answers."""
    tx = ctx.db.get(LoginTransaction, ctx.transaction_id) if ctx.transaction_id is not None else None
    return dict(tx.request_params or {}) if tx is not None else {}


def _max_age(raw: str | None) -> int | None:
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return 0   # an unreadable max_age asks for a fresh sign-in rather than none
    return max(value, 0) if value is not None else None
