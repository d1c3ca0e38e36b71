"""Factor `webauthn` (step type `webauthn`): a security key or passkey as the second factor, after the password.

The page asks the browser (static/webauthn.js, navigator.credentials.get) for an assertion from one of the
person's registered keys (allowCredentials), user verification preferred; idp.factors.webauthn checks it
with py_webauthn. amr: "hwk" for a device-bound security key, "swk" for a platform or synced passkey (the
rule is in idp.factors.webauthn). The challenge lives in the database, bound to this login transaction,
and is used once: every answer, right or wrong, uses it up and the next try gets a new one."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.factors import step_outcomes as sf
from idp.factors import webauthn
from idp.factors.registry import FactorType, register_factor
from idp.factors.verification import Attempt
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome

PURPOSE = "second_factor"


def bound_to(ctx: FlowContext) -> str:
    return webauthn.binding("tx", ctx.transaction_id)


def new_challenge(ctx: FlowContext, purpose: str) -> None:
    user_id = ctx.user.id if ctx.user is not None else None
    ctx.step_state["challenge"] = webauthn.new_challenge(ctx.db, purpose, bound_to(ctx), user_id).id


def options(ctx: FlowContext, purpose: str, user_verification: str) -> str:
    """The request options of the open challenge (a page reload shows the same); a new challenge when it
    expired or was used while the page was open."""
    challenge = webauthn.open_challenge(ctx.db, ctx.step_state.get("challenge"), purpose, bound_to(ctx))
    if challenge is None:
        new_challenge(ctx, purpose)
        challenge = webauthn.open_challenge(ctx.db, ctx.step_state["challenge"], purpose, bound_to(ctx))
    return webauthn.authentication_options(ctx.db, ctx.config, challenge, ctx.user,
                                           user_verification=user_verification)


@register_factor
class SecurityKey(FactorType):
    kind = "webauthn"
    factor = "webauthn"
    title = "Security key or passkey"
    label = "Security key"
    in_a_sentence = "a security key"
    order = 3
    admin_label = "Security keys and passkeys (WebAuthn)"
    description = "A security key you touch, or a passkey on your phone or computer."
    enrol_endpoint = "account.key_add"
    enrol_method = "get"
    template = "steps/webauthn.html"
    amr = ("hwk",)
    proves = ("hwk", "swk")   # a device-bound key, or a platform or synced passkey (idp.factors.webauthn.amr_for)

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is not None and webauthn.has_keys(ctx.db, ctx.user)

    def begin(self, ctx: FlowContext) -> Outcome:
        refused = sf.locked(ctx)
        if refused is not None:
            return refused
        new_challenge(ctx, PURPOSE)
        return Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict[str, Any]:
        return {"options": options(ctx, PURPOSE, "preferred"), "address_problem": webauthn.address_problem(ctx.config),
                **sf.help_view(ctx)}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        proved: list[str] = []

        def check() -> Attempt:
            try:
                verified = webauthn.authenticate(
                    ctx.db, ctx.config, purpose=PURPOSE, bound_to=bound_to(ctx),
                    challenge_id=ctx.step_state.get("challenge"), credential_json=form.get("credential"),
                    user=ctx.user, actor=sf.actor(ctx))
            except webauthn.WebAuthnError as err:
                return Attempt(False, err.message, counts=err.counts)
            proved.append(verified.amr)
            return Attempt(True)

        refused = sf.verified(ctx, self.factor, check)
        if refused is not None:
            new_challenge(ctx, PURPOSE)
            return refused
        ctx.step_state.pop("challenge", None)
        return Outcome.success(*proved)
