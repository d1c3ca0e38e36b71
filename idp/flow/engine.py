"""The flow engine: runs a policy's steps by their requirement; knows no step type by name.

Rules (Keycloak's DefaultAuthenticationFlow, checked at load time where Keycloak only logs):
a flow holds either alternatives, or required/conditional/disabled steps. Required steps run in
order; a conditional step runs when its condition holds (an error evaluating it stops the sign-in);
an alternative flow is done when one applicable alternative succeeds, and is blocked when none
applies. A required step that cannot run for this user blocks the sign-in: nothing is ever skipped
because it failed."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .context import FlowContext
from .model import Flow, StepNode
from .outcome import Outcome, Status
from .protocols import Step
from .registry import step_types
from .requirement import Requirement
from .state import FlowState

ContextFactory = Callable[[FlowState, str], FlowContext]


@dataclass(frozen=True)
class Pending:
    """The step to show now; `alternatives` are the other choices of its group ("Try another way")."""

    node: StepNode
    step: Step
    group: str | None = None
    alternatives: tuple[StepNode, ...] = ()


@dataclass(frozen=True)
class Complete:
    amr: tuple[str, ...]


@dataclass(frozen=True)
class Blocked:
    reason: str


Position = Pending | Complete | Blocked


@dataclass(frozen=True)
class Submitted:
    """What a submit did: the step's outcome, and where the flow stands afterwards."""

    outcome: Outcome
    position: Position
    stale: bool = False


TOO_MANY = "Too many wrong attempts. Start signing in again."     # the sign-in's own limit (max_failures)


class FlowEngine:
    """Stateless: every call reads and updates the FlowState it is given."""

    def __init__(self, max_failures: int = 5) -> None:
        self._types = step_types()
        self.max_failures = max_failures

    def step_for(self, node: StepNode) -> Step:
        return self._types[node.type](node.options)

    # --- where are we -------------------------------------------------------------------------
    def position(self, flow: Flow, state: FlowState, contexts: ContextFactory) -> Position:
        """The next step to run for this state, or Complete, or Blocked with a reason."""
        result = self._resolve(flow.steps, flow.name, state, contexts)
        if isinstance(result, Complete):
            return Complete(tuple(state.amr()))
        return result

    def _resolve(self, nodes: tuple[StepNode, ...], group: str, state: FlowState,
                 contexts: ContextFactory) -> Position:
        if any(n.requirement is Requirement.ALTERNATIVE for n in nodes):
            return self._resolve_alternatives(nodes, group, state, contexts)
        for node in nodes:
            if node.requirement is Requirement.DISABLED:
                continue
            if node.requirement is Requirement.CONDITIONAL and not self._holds(node, state, contexts):
                continue
            result = self._resolve_node(node, state, contexts)
            if not isinstance(result, Complete):
                return result
        return Complete(())

    def _holds(self, node: StepNode, state: FlowState, contexts: ContextFactory) -> bool:
        return node.when.evaluate(contexts(state, node.path)).holds

    def _resolve_node(self, node: StepNode, state: FlowState, contexts: ContextFactory,
                      group: str | None = None, alternatives: tuple[StepNode, ...] = ()) -> Position:
        if node.subflow is not None:
            return self._resolve(node.subflow.steps, node.path, state, contexts)
        if node.path in state.completed:
            return Complete(())
        step = self.step_for(node)
        if self._satisfied_before(step, state):
            state.completed[node.path] = list(step.amr)
            return Complete(())
        ctx = contexts(state, node.path)
        if ctx.user is None and not step.identifies_user:
            return Blocked(f"{step.title} needs to know who is signing in, and no earlier step said")
        if not ctx.memo.remember(("applicable", node.path), lambda: step.is_applicable(ctx)):
            return Blocked(f"{step.title} is required for this sign-in but is not set up for this account")
        return Pending(node, step, group, alternatives)

    @staticmethod
    def _satisfied_before(step: Step, state: FlowState) -> bool:
        return bool(step.amr) and set(step.amr) <= set(state.prior_amr)

    def _resolve_alternatives(self, nodes: tuple[StepNode, ...], group: str, state: FlowState,
                              contexts: ContextFactory) -> Position:
        candidates = [n for n in nodes if n.requirement is Requirement.ALTERNATIVE]
        if any(n.path in state.completed for n in candidates):   # done: the others need not be asked
            return Complete(())
        outcomes = {n.path: self._resolve_node(n, state, contexts) for n in candidates}
        if any(isinstance(r, Complete) for r in outcomes.values()):
            return Complete(())
        usable = tuple(n for n in candidates if not isinstance(outcomes[n.path], Blocked))
        if not usable:
            reasons = "; ".join(r.reason for r in outcomes.values() if isinstance(r, Blocked))
            return Blocked(f"none of the ways to complete this step can be used: {reasons}")
        chosen = self._chosen(usable, group, state, contexts)
        result = outcomes[chosen.path]
        if isinstance(result, Pending) and result.group is None:
            return Pending(result.node, result.step, group, usable)
        return result

    def _chosen(self, usable: tuple[StepNode, ...], group: str, state: FlowState,
                contexts: ContextFactory) -> StepNode:
        by_path = {n.path: n for n in usable}
        if state.chosen.get(group) in by_path:
            return by_path[state.chosen[group]]
        user = contexts(state, group).user
        preferred = getattr(user, "preferred_method", None)
        for node in usable:
            if preferred and node.type == preferred:
                return node
        return usable[0]

    # --- acting -------------------------------------------------------------------------------
    def choose(self, flow: Flow, state: FlowState, contexts: ContextFactory, path: str) -> bool:
        """Switch the current alternative group to `path` ("Try another way"); False if not offered."""
        position = self.position(flow, state, contexts)
        if not isinstance(position, Pending) or position.group is None:
            return False
        if path not in {n.path for n in position.alternatives}:
            return False
        state.chosen[position.group] = path
        return True

    def begin(self, pending: Pending, state: FlowState, contexts: ContextFactory) -> Outcome:
        """Run the step's `begin` once (sending a code, ...); a reload shows the page without resending."""
        if pending.node.path in state.started:
            return Outcome.challenge()
        outcome = pending.step.begin(contexts(state, pending.node.path))
        state.started.append(pending.node.path)
        self._record(pending, outcome, state)
        return outcome

    def submit(self, flow: Flow, state: FlowState, contexts: ContextFactory, posted_path: str,
               form: Mapping[str, str]) -> Submitted:
        """Hand a posted form to the current step; a form for another step changes nothing."""
        position = self.position(flow, state, contexts)
        if not isinstance(position, Pending) or position.node.path != posted_path \
                or position.node.path not in state.started:
            # a form for another step, or for a step whose challenge was never issued (its `begin` did
            # not run: e.g. an emailed check the step must send first) changes nothing
            return Submitted(Outcome.challenge(), position, stale=True)
        if state.failures >= self.max_failures:   # counted meanwhile by a failed request's redo: no more answers
            return Submitted(Outcome.abort(TOO_MANY), Blocked(TOO_MANY))
        outcome = position.step.submit(contexts(state, position.node.path), form)
        self._record(position, outcome, state)
        if outcome.status is Status.ABORT:
            return Submitted(outcome, Blocked(outcome.message or "sign-in stopped"))
        if outcome.status is Status.RETRY and state.failures >= self.max_failures:
            return Submitted(Outcome.abort(TOO_MANY), Blocked(TOO_MANY))
        return Submitted(outcome, self.position(flow, state, contexts))

    def resend(self, pending: Pending, state: FlowState, contexts: ContextFactory) -> Outcome | None:
        """Ask a Resendable step to send its challenge again; None if it cannot."""
        resend = getattr(pending.step, "resend", None)
        if resend is None:
            return None
        outcome = resend(contexts(state, pending.node.path))
        self._record(pending, outcome, state)
        return outcome

    @staticmethod
    def _record(pending: Pending, outcome: Outcome, state: FlowState) -> None:
        if outcome.status is Status.SUCCESS:
            state.completed[pending.node.path] = list(outcome.amr or pending.step.amr)
            if outcome.user_id is not None:
                state.user_id = outcome.user_id
            if outcome.after_login is not None:
                state.after_login = outcome.after_login
            if outcome.upstream is not None:
                state.upstream = dict(outcome.upstream)
            if outcome.set_up_second_factor:
                state.set_up_second_factor = True
        elif outcome.status is Status.ABORT and outcome.failure is not None:
            state.failure = dict(outcome.failure)
        if outcome.status in (Status.RETRY, Status.ABORT) and outcome.counts_as_failure:
            state.failures += 1
