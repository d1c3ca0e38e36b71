"""The sign-in service: show, submit, choose, resend and restart a login transaction, without Flask.

Each request opens one `SignIn` (the transaction, its FlowState, one shared cache of facts) and resolves
the flow position once; the answer is a typed result (idp.signin.results) the web layer turns into a
response. Steps report Outcomes; only the engine decides what comes next; this service records what the
person did (audit), keeps the FlowState in the transaction, and finishes the sign-in."""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from idp.browser import remembered
from idp.factors import enrolled, registry
from idp.flow.context import FlowContext
from idp.flow.engine import Blocked, FlowEngine, Pending, Position
from idp.flow.model import Flow, PolicySet
from idp.flow.outcome import Outcome, Status
from idp.flow.state import FlowState
from idp.models import LoginTransaction
from idp.services import Services
from idp.signin import flows, transactions

from .completion import complete
from .contexts import Contexts
from .request import RequestFacts
from .results import Failed, Problem, Redirect, Result, ShowStep
from .wrong_answers import WrongAnswer, stopped

STALE_TAB = ("This page belongs to a sign-in that is no longer current in this browser (perhaps another "
             "tab started a new one). Continue below with the current sign-in.")
OUT_OF_DATE = "That page was out of date. Here is where your sign-in stands now."
NOT_OFFERED = "That choice is not available for this sign-in."
CANNOT_RESEND = "This step cannot send a new code."
STOPPED = "The sign-in cannot continue."
RECOVERY_CODE = "recovery_code"
SHOW_DESTINATION = frozenset({"email_otp", "sms_otp"})   # where a code goes: "Email u•••@example.com"


class SignInService:
    """Opens the sign-in of one request; stateless between requests (all state is in the transaction)."""

    def __init__(self, db: Session, services: Services, engine: FlowEngine, policies: PolicySet) -> None:
        self.db, self.services, self.engine, self.policies = db, services, engine, policies

    def load(self, handle: str | None, browser_secret: str | None) -> LoginTransaction | Problem:
        """The browser's sign-in in progress (row-locked for this request), or why there is none."""
        try:
            return transactions.load(self.db, handle, browser_secret)
        except transactions.TransactionProblem as problem:
            return Problem(problem.message)

    def open(self, tx: LoginTransaction, request: RequestFacts, state: FlowState | None = None) -> SignIn:
        return SignIn(self, tx, request, state if state is not None else transactions.flow_state(tx))

    def show(self, tx: LoginTransaction, request: RequestFacts, notice: str | None = None) -> Result:
        return self.open(tx, request).show(notice)

    def submit(self, tx: LoginTransaction, request: RequestFacts, form: Mapping[str, str]) -> Result:
        return self.open(tx, request).submit(form)

    def choose(self, tx: LoginTransaction, request: RequestFacts, choice: str) -> Result:
        return self.open(tx, request).choose(choice)

    def resend(self, tx: LoginTransaction, request: RequestFacts, form: Mapping[str, str]) -> Result:
        return self.open(tx, request).resend(form)

    def in_progress(self, handle: str | None, browser_secret: str | None) -> bool:
        """This browser has a sign-in under way (not finished, failed or expired)."""
        try:
            transactions.load(self.db, handle, browser_secret, for_update=False)
        except transactions.TransactionProblem:
            return False
        return True

    def waiting_application(self, handle: str | None, browser_secret: str | None) -> dict[str, str]:
        """The application request this browser signed in for and that is not answered yet (consent or the
        recovery-code notice still to come); empty when there is none."""
        try:
            tx = transactions.load(self.db, handle, browser_secret, for_update=False,
                                   status=transactions.SIGNED_IN)
        except transactions.TransactionProblem:
            return {}
        return dict(tx.request_params or {}) if tx.purpose == "authorize" else {}

    def restart(self, handle: str | None) -> dict[str, str]:
        """The application request to start over with (empty: a plain sign-in), even after the browser's
        last transaction expired, failed or finished."""
        tx = transactions.by_handle(self.db, handle)
        return dict(tx.request_params or {}) if tx is not None and tx.purpose == "authorize" else {}


class SignIn:
    """One request's view of a login transaction; the flow position is resolved once and reused."""

    def __init__(self, service: SignInService, tx: LoginTransaction, request: RequestFacts,
                 state: FlowState) -> None:
        self.service, self.engine, self.tx, self.request, self.state = service, service.engine, tx, request, state
        self.contexts = Contexts(service.db, service.services, tx, request)
        self._position: Position | None = None

    # --- operations -------------------------------------------------------------------------------
    def show(self, notice: str | None = None) -> Result:
        """GET: the current step's page; its `begin` runs once (e.g. sends an email code)."""
        position = self.position()
        if not isinstance(position, Pending):
            return self.advance()
        outcome = self.engine.begin(position, self.state, self.contexts)
        self.save()
        if outcome.status is Status.SUCCESS:
            self._position = None
            return self.advance()
        if outcome.status is Status.EXTERNAL:
            return Redirect(outcome.redirect_to)
        if outcome.status is Status.ABORT:
            return self.fail(outcome.message or STOPPED)
        return self.render(position, outcome, notice)

    def submit(self, form: Mapping[str, str]) -> Result:
        """POST: hand the current step its form (`tx` and `step` say which page it came from)."""
        if form.get("tx") != str(self.tx.id):
            return self.show(STALE_TAB)
        path = form.get("step", "")
        answer = WrongAnswer(self.tx.id, self.tx.flow, path.rsplit("/", 1)[-1], self.request, self.state,
                             self.engine.max_failures)
        answer.watch(self.service.db)     # before the step compares anything
        result = self.engine.submit(self.flow(), self.state, self.contexts, path, form)
        self._position = result.position
        if result.outcome.status is Status.SUCCESS and form.get("remember_browser") == "yes":
            self.state.remember_browser = True   # honoured only after a sign-in that proved a second factor
        self.save()
        if result.stale:
            return self.show(OUT_OF_DATE)
        if answer.counted:      # a wrong answer; ABORT: the last one the sign-in allows, or one that locked a factor
            if result.outcome.status is Status.ABORT:
                answer.stops = result.outcome.message or STOPPED
            answer.record(self.service.db, self.contexts.user(self.state.user_id))
        if result.outcome.status is Status.EXTERNAL:
            return Redirect(result.outcome.redirect_to)
        if result.outcome.status is Status.ABORT:
            return self.fail(result.outcome.message or STOPPED)
        if result.outcome.status in (Status.RETRY, Status.CHALLENGE) and isinstance(result.position, Pending):
            return self.render(result.position, result.outcome)
        return self.advance()

    def choose(self, choice: str) -> Result:
        """"Try another way": switch to another alternative of the current group."""
        if not self.engine.choose(self.flow(), self.state, self.contexts, choice):
            return self.show(NOT_OFFERED)
        self._position = None
        self.save()
        return self.show()

    def resend(self, form: Mapping[str, str]) -> Result:
        """Send the current step's code again (email, SMS)."""
        position = self.position()
        if not isinstance(position, Pending) or form.get("step") != position.node.path:
            return self.show(OUT_OF_DATE)
        outcome = self.engine.resend(position, self.state, self.contexts) or \
            Outcome.retry(CANNOT_RESEND, counts_as_failure=False)
        self.save()
        return self.render(position, outcome)

    def advance(self) -> Result:
        """After a step succeeded: the next page (shown at once, as a POST's answer), the end of the sign-in,
        or why it cannot go on."""
        position = self.position()
        self.save()
        if isinstance(position, Blocked):
            return self.fail(position.reason)
        if isinstance(position, Pending):
            return self.show()      # the next page in this response: no redirect and second request
        return complete(self.service.db, self.service.services, self.tx, self.state,
                        self.contexts.user(self.state.user_id), position, self.request)

    def fail(self, reason: str) -> Failed:
        """The sign-in stops for good (the transaction cannot be continued); audited."""
        transactions.finish(self.tx, transactions.FAILED)
        stopped(self.service.db, self.request, self.contexts.user(self.tx.user_id), reason, self.tx.flow)
        return Failed(reason)

    # --- the flow -----------------------------------------------------------------------------------
    def flow(self) -> Flow:
        return self.service.policies.flow(self.tx.flow)

    def position(self) -> Position:
        """Where the flow stands, resolved once per request (again only after the state changed)."""
        self._switch_flow_if_needed()
        if self._position is None:
            self._position = self.engine.position(self.flow(), self.state, self.contexts)
        return self._position

    def save(self) -> None:
        transactions.save(self.tx, self.state)

    def render(self, position: Pending, outcome: Outcome, notice: str | None = None) -> ShowStep:
        ctx = self.contexts(self.state, position.node.path)
        view = {**position.step.view(ctx), **outcome.view}
        alternatives = self._alternatives(position, ctx)
        recovery = next((path for path, kind, _, _ in alternatives if kind == RECOVERY_CODE), None)
        if recovery is not None:   # the manual: "Use a recovery code instead" is on the prompt itself
            view.setdefault("recovery_choice", recovery)
        self.save()
        remember_days = 0
        if position.step.second_factor and not position.step.identifies_user:
            remember_days = remembered.may_offer(ctx.user, self.contexts.params,
                                                 self.service.services.config.policy.acr_mfa)
        return ShowStep(template=position.step.template, title=position.step.title, step=position.node.path,
                        view=view, user=ctx.user,
                        alternatives=tuple((path, label, detail) for path, kind, label, detail in alternatives
                                           if kind != RECOVERY_CODE),
                        message=outcome.message if outcome.status is Status.RETRY else None, notice=notice,
                        remember_days=remember_days)

    def _alternatives(self, position: Pending, ctx: FlowContext) -> list[tuple[str, str, str, str]]:
        """The other choices of the current group as (path, step type, label, masked destination): "Email",
        "u•••@example.com" for an enrolled factor, as the factor type describes it."""
        shows_destination = ctx.user is not None and any(n.type in SHOW_DESTINATION for n in position.alternatives)
        rows = {row.kind: row for row in enrolled.active_factors(ctx.db, ctx.user)} if shows_destination else {}
        choices = []
        for node in position.alternatives:
            if node.path == position.node.path:
                continue
            step = self.engine.step_for(node)
            factor = registry.factor_type(getattr(step, "factor", "") or "")
            row = rows.get(factor.factor) if factor is not None else None
            detail = factor.describe(row) if row is not None and factor.kind in SHOW_DESTINATION else ""
            label = getattr(step, "label", "") if detail else step.title
            choices.append((node.path, node.type, label or step.title, detail))
        return choices

    def _switch_flow_if_needed(self) -> None:
        """Once the user is known, an organisation bound to another flow continues in that flow (not a sign-in
        through an upstream provider: its flow is the configured upstream_flow, whatever the organisation)."""
        if self.state.user_id is None or self.tx.provider is not None:
            return
        user = self.contexts.user(self.state.user_id)
        target = flows.switch_for_organisation(self.service.services.config.policy, self.tx.flow,
                                               self.tx.client_id, user.organisation.slug)
        if target is not None:
            self.state.prior_amr = sorted(set(self.state.prior_amr) | set(self.state.amr()))
            self.state.restart()
            self.tx.flow = target
            self._position = None
