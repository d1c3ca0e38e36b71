"""Step `password`: the email address and password; identifies the person signing in."""
from __future__ import annotations

from collections.abc import Mapping

from idp import accounts
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step

WRONG = "The email address or password is not correct."


@register_step
class PasswordStep(Step):
    kind = "password"
    title = "Password"
    template = "steps/password.html"
    amr = ("pwd",)
    identifies_user = True

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is None or ctx.user.password_hash is not None

    def begin(self, ctx: FlowContext) -> Outcome:
        return Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict:
        return {"email": ctx.user.email if ctx.user else ctx.step_state.get("email", "")}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        email = (form.get("email") or "").strip()
        password = form.get("password") or ""
        ctx.step_state["email"] = email[:320]
        if ctx.user is not None and accounts.normalise_email(email) != ctx.user.email:
            return Outcome.retry("Sign in as the account this request is for.", email=email)
        user = accounts.check_password(ctx.db, ctx.services.passwords, email, password)
        if user is None:
            return Outcome.retry(WRONG, email=email)
        return Outcome.success(*self.amr, user_id=user.id)
