"""Step `password`: the email address and password; identifies the person signing in.

Home-realm discovery: an email address whose domain belongs to an upstream provider, typed without a
password, goes to that provider (the page also offers a "Sign in with ..." button per provider); for
an SSO-only domain the password is never checked: those people sign in through their provider only."""
from __future__ import annotations

from collections.abc import Mapping

from idp import accounts
from idp.attempts import counters as attempts
from idp.federation import providers
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.flow.protocols import Step
from idp.flow.registry import register_step

WRONG = "The email address or password is not correct."
ATTEMPTS = "password"       # the kind of counters in idp.attempts.counters
FEDERATE = "/login/federate?provider={name}"   # idp.web.federation: "Sign in with <display name>"


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
        offered = providers.all_providers(ctx.db, ctx.config, enabled_only=True)
        typed = ctx.step_state.get("email") or (ctx.login_hint or "")[:320]
        return {"email": ctx.user.email if ctx.user else typed,
                "providers": [(p.name, p.display_name) for p in offered],
                "home_realm": any(p.domains for p in offered)}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        email = (form.get("email") or "").strip()
        password = form.get("password") or ""
        ctx.step_state["email"] = email[:320]
        if ctx.user is not None and accounts.normalise_email(email) != ctx.user.email:
            return Outcome.retry("Sign in as the account this request is for.", email=email)
        provider = providers.for_email(ctx.db, ctx.config, email)
        if provider is not None and (provider.sso_only or not password):
            return Outcome.external(FEDERATE.format(name=provider.name))
        return self._check(ctx, email, password, provider)

    def _check(self, ctx: FlowContext, email: str, password: str, provider: providers.Provider | None
               ) -> Outcome:
        """The password, within the limits per account and client (idp.attempts.counters): the same work
        and the same answers whether the account exists or not."""
        account = accounts.normalise_email(email)
        client = attempts.Client(address=ctx.ip, user_agent=ctx.user_agent, device_cookie=ctx.device_cookie)
        verdict = attempts.check(ctx.db, ctx.services, ATTEMPTS, account, client)
        if not verdict.allowed:                    # not checked, so not a failure (like the second factor's wait)
            return Outcome.retry(verdict.message, counts_as_failure=False, email=email)
        user, right = accounts.verify_password(ctx.db, ctx.services.passwords, email, password)
        if not right:
            verdict = attempts.record_failure(ctx.db, ctx.services, ATTEMPTS, account, client, user=user)
            hint = f" You can also sign in with {provider.display_name}." if provider is not None else ""
            later = "" if verdict.allowed else " " + verdict.message
            return Outcome.retry(WRONG + hint + later, email=email)
        attempts.record_success(ctx.db, ctx.services, ATTEMPTS, account, client)
        return Outcome.success(*self.amr, user_id=user.id)
