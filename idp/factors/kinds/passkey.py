"""Step `passkey`: "Sign in with a passkey", the first and only factor (it identifies the person).

The browser offers the person's discoverable credentials for this site (no allowCredentials, no username
typed); user verification is REQUIRED, so the passkey proves possession (a key) and the person (PIN or
biometric): it counts as two factors, amr ("hwk" or "swk", "user", "mfa"). The person is whoever owns the
credential; a disabled account, or one whose second factor is locked, is refused. Failures count against this
sign-in only (the credential's owner is not locked out by someone else's attempts).

Offered only while nothing else was proved in this sign-in: once a password succeeded in the same flow, the
password's own path continues (so a policy may offer "passkey" as an alternative to a password sub-flow)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.factors import lockout, verification, webauthn
from idp.factors import step_outcomes as sf
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step

from .webauthn import bound_to, new_challenge, options

PURPOSE = "passkey"
DISABLED = "This account is disabled and cannot sign in. Contact your administrator."


@register_step
class PasskeyStep(Step):
    kind = "passkey"
    title = "Sign in with a passkey"
    template = "steps/passkey.html"
    amr = ("user", "mfa")
    identifies_user = True
    second_factor = True

    def is_applicable(self, ctx: FlowContext) -> bool:
        if ctx.amr:
            return False
        return ctx.user is None or webauthn.has_keys(ctx.db, ctx.user, discoverable_only=True)

    def begin(self, ctx: FlowContext) -> Outcome:
        new_challenge(ctx, PURPOSE)
        return Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict[str, Any]:
        return {"options": options(ctx, PURPOSE, "required"), "address_problem": webauthn.address_problem(ctx.config)}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        try:
            verified = webauthn.authenticate(
                ctx.db, ctx.config, purpose=PURPOSE, bound_to=bound_to(ctx), challenge_id=ctx.step_state.get("challenge"),
                credential_json=form.get("credential"), user=ctx.user, actor=sf.actor(ctx),
                require_user_verification=True)
        except webauthn.WebAuthnError as err:
            new_challenge(ctx, PURPOSE)
            return Outcome.retry(err.message, counts_as_failure=err.counts or err.reason == "unknown_credential")
        person = verified.user
        if not person.is_active:
            new_challenge(ctx, PURPOSE)
            return Outcome.retry(DISABLED)
        until = lockout.is_locked(person, ctx.now)
        if until is not None:
            return Outcome.abort(verification.LOCKED.format(until=verification.until_text(until, ctx.now)))
        ctx.step_state.pop("challenge", None)
        lockout.record_success(person)
        return Outcome.success(verified.amr, "user", "mfa", user_id=person.id)
