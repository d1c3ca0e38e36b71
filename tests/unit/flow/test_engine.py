"""The flow engine's requirement semantics, framework-free: required, alternative, conditional, disabled,
sub-flows, step-up, fail-closed conditions, and a property test that nothing required is ever skipped."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.flow.context import FlowContext
from idp.flow.engine import Blocked, Complete, FlowEngine, Pending
from idp.flow.model import Flow, Source, StepNode
from idp.flow.outcome import Outcome, Status
from idp.flow.protocols import Condition, Step, Verdict
from idp.flow.registry import register_step
from idp.flow.requirement import Requirement
from idp.flow.state import FlowState

R, A, C, D = Requirement.REQUIRED, Requirement.ALTERNATIVE, Requirement.CONDITIONAL, Requirement.DISABLED
HERE = Source("test.toml", 1)


@dataclass(frozen=True)
class FactorOptions:
    name: str = "x"


@register_step
class IdentifyStep(Step):
    kind = "test_eng_identify"
    title = "Identify"
    template = "t.html"
    amr = ("pwd",)
    identifies_user = True

    def is_applicable(self, ctx: FlowContext) -> bool:
        return True

    def begin(self, ctx: FlowContext) -> Outcome:
        return Outcome.challenge()

    def submit(self, ctx: FlowContext, form: Any) -> Outcome:
        return Outcome.success("pwd", user_id=7) if form.get("answer") == "right" else Outcome.retry("wrong")


@register_step
class FactorStep(Step):
    """Applicable when the test's world says so; proves its own name as amr."""

    kind = "test_eng_factor"
    title = "Factor"
    template = "t.html"
    Options = FactorOptions

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.services.world.get(self.options.name, True)

    def begin(self, ctx: FlowContext) -> Outcome:
        ctx.step_state["begun"] = ctx.step_state.get("begun", 0) + 1
        return Outcome.challenge()

    def submit(self, ctx: FlowContext, form: Any) -> Outcome:
        if form.get("answer") == "right":
            return Outcome.success(self.options.name)
        return Outcome.retry("wrong code")


@dataclass(frozen=True)
class Fixed(Condition):
    kind = "test_fixed"
    description = "fixed"
    value: bool = True

    @classmethod
    def parse(cls, value: Any) -> "Fixed":
        return cls(bool(value))

    def evaluate(self, ctx: FlowContext) -> Verdict:
        return Verdict(self.value, "fixed")


class Exploding(Condition):
    kind = "test_exploding"
    description = "raises"

    @classmethod
    def parse(cls, value: Any) -> "Exploding":
        return cls()

    def evaluate(self, ctx: FlowContext) -> Verdict:
        raise LookupError("facts unavailable")


def leaf(path: str, requirement: Requirement = R, when: Condition | None = None, name: str | None = None) -> StepNode:
    name = name or path.rsplit("/", 1)[-1]
    return StepNode(name, "test_eng_factor", requirement, path, HERE, when, FactorOptions(name))


def identify(path: str = "f/id") -> StepNode:
    return StepNode("id", "test_eng_identify", R, path, HERE, None, None)


def sub(path: str, children: list[StepNode], requirement: Requirement = R, when: Condition | None = None) -> StepNode:
    flow = Flow(path.rsplit("/", 1)[-1], "", tuple(children), HERE)
    return StepNode(flow.name, "flow", requirement, path, HERE, when, None, flow)


def flow(*steps: StepNode) -> Flow:
    return Flow("f", "", tuple(steps), HERE)


def contexts(world: dict[str, bool]):  # noqa: ANN201
    services = SimpleNamespace(world=world)
    user = SimpleNamespace(id=7, preferred_method=None)

    def build(state: FlowState, path: str) -> FlowContext:
        return FlowContext(db=None, config=None, services=services, now=datetime.now(UTC),
                           user=user if state.user_id else None, step_state=state.scratch(path))
    return build


def run(engine: FlowEngine, f: Flow, state: FlowState, ctx, answer: str = "right"):  # noqa: ANN001, ANN201
    """Submit `answer` to whatever is pending until the flow completes or blocks."""
    for _ in range(50):
        position = engine.position(f, state, ctx)
        if not isinstance(position, Pending):
            return position
        engine.begin(position, state, ctx)
        engine.submit(f, state, ctx, position.node.path, {"answer": answer})
    raise AssertionError("flow did not finish")


def test_required_steps_run_in_order_and_amr_collects_with_mfa():
    engine, state, ctx = FlowEngine(), FlowState(), contexts({})
    f = flow(identify(), leaf("f/otp"))
    first = engine.position(f, state, ctx)
    assert isinstance(first, Pending) and first.node.path == "f/id"
    result = run(engine, f, state, ctx)
    assert result == Complete(("pwd", "otp", "mfa"))


def test_disabled_and_false_conditional_steps_are_skipped_true_ones_run():
    engine, state, ctx = FlowEngine(), FlowState(), contexts({})
    f = flow(identify(), leaf("f/off", D), leaf("f/no", C, Fixed(False)), leaf("f/yes", C, Fixed(True)))
    assert run(engine, f, state, ctx) == Complete(("pwd", "yes", "mfa"))
    assert "f/off" not in state.completed and "f/no" not in state.completed


def test_a_required_step_the_user_cannot_do_blocks_rather_than_skips():
    engine, state, ctx = FlowEngine(), FlowState(), contexts({"otp": False})
    result = run(engine, flow(identify(), leaf("f/otp")), state, ctx)
    assert isinstance(result, Blocked) and "not set up" in result.reason


def test_a_condition_that_fails_stops_the_sign_in():
    engine, state, ctx = FlowEngine(), FlowState(), contexts({})
    f = flow(identify(), leaf("f/otp", C, Exploding()))
    with pytest.raises(LookupError):
        run(engine, f, state, ctx)
    assert "f/otp" not in state.completed


def test_alternatives_use_the_first_applicable_and_offer_the_others():
    engine, state, ctx = FlowEngine(), FlowState(user_id=7), contexts({"totp": False})
    group = sub("f/2fa", [leaf("f/2fa/totp", A), leaf("f/2fa/email", A), leaf("f/2fa/sms", A)])
    position = engine.position(flow(group), state, ctx)
    assert position.node.path == "f/2fa/email"
    assert [n.path for n in position.alternatives] == ["f/2fa/email", "f/2fa/sms"]
    assert engine.choose(flow(group), state, ctx, "f/2fa/sms")
    assert engine.position(flow(group), state, ctx).node.path == "f/2fa/sms"
    assert not engine.choose(flow(group), state, ctx, "f/2fa/totp")  # not usable: refused


def test_user_preference_picks_the_default_alternative():
    engine, state = FlowEngine(), FlowState(user_id=7)
    ctx = contexts({})
    group = sub("f/2fa", [leaf("f/2fa/totp", A), leaf("f/2fa/sms", A)])

    def preferring(state: FlowState, path: str) -> FlowContext:
        base = ctx(state, path)
        return FlowContext(db=None, config=None, services=base.services, now=base.now,
                           user=SimpleNamespace(id=7, preferred_method="test_eng_factor"), step_state=base.step_state)
    assert engine.position(flow(group), state, preferring).node.path == "f/2fa/totp"


def test_no_applicable_alternative_blocks():
    engine, state, ctx = FlowEngine(), FlowState(user_id=7), contexts({"a": False, "b": False})
    result = engine.position(flow(sub("f/g", [leaf("f/g/a", A), leaf("f/g/b", A)])), state, ctx)
    assert isinstance(result, Blocked)


def test_stale_form_for_another_step_changes_nothing():
    engine, state, ctx = FlowEngine(), FlowState(), contexts({})
    f = flow(identify(), leaf("f/otp"))
    result = engine.submit(f, state, ctx, "f/otp", {"answer": "right"})
    assert result.stale and state.completed == {}


def test_a_step_whose_challenge_was_never_issued_cannot_be_submitted():
    """A form posted before the step's `begin` ran (its page never shown, no code sent) changes nothing."""
    engine, state, ctx = FlowEngine(), FlowState(user_id=7), contexts({})
    f = flow(leaf("f/otp"))
    result = engine.submit(f, state, ctx, "f/otp", {"answer": "right"})
    assert result.stale and state.completed == {}
    engine.begin(engine.position(f, state, ctx), state, ctx)
    assert engine.submit(f, state, ctx, "f/otp", {"answer": "right"}).outcome.status is Status.SUCCESS


def test_wrong_answers_end_the_flow_after_max_failures():
    engine, state, ctx = FlowEngine(max_failures=3), FlowState(user_id=7), contexts({})
    f = flow(leaf("f/otp"))
    engine.begin(engine.position(f, state, ctx), state, ctx)
    outcomes = [engine.submit(f, state, ctx, "f/otp", {"answer": "no"}).outcome.status for _ in range(3)]
    assert outcomes == [Status.RETRY, Status.RETRY, Status.ABORT]
    assert "f/otp" not in state.completed


def test_begin_runs_once_so_a_reload_does_not_resend():
    engine, state, ctx = FlowEngine(), FlowState(user_id=7), contexts({})
    f = flow(leaf("f/email"))
    for _ in range(3):
        engine.begin(engine.position(f, state, ctx), state, ctx)
    assert state.step_state["f/email"]["begun"] == 1


def test_step_up_keeps_what_the_session_proved_and_asks_only_for_more():
    engine, ctx = FlowEngine(), contexts({})
    state = FlowState(user_id=7, prior_amr=["pwd"])
    f = flow(identify(), leaf("f/otp", C, Fixed(True)))
    assert engine.position(f, state, ctx).node.path == "f/otp"
    assert run(engine, f, state, ctx) == Complete(("pwd", "otp", "mfa"))


# --- property: nothing required or applicable is ever skipped ------------------------------------------
@st.composite
def trees(draw):  # noqa: ANN001, ANN201
    """A random flow (identify first) with leaves and one level of sub-flows, plus random facts."""
    world: dict[str, bool] = {}
    counter = iter(range(1000))

    def new_leaf(prefix: str, requirement: Requirement) -> StepNode:
        name = f"s{next(counter)}"
        world[name] = draw(st.booleans())
        cond = Fixed(draw(st.booleans())) if requirement is C else None
        return leaf(f"{prefix}/{name}", requirement, cond, name)

    nodes = [identify()]
    for _ in range(draw(st.integers(0, 4))):
        requirement = draw(st.sampled_from([R, C, D]))
        cond = Fixed(draw(st.booleans())) if requirement is C else None
        kind = draw(st.sampled_from(["leaf", "alternatives", "sequence"]))
        path = f"f/n{next(counter)}"
        if kind == "leaf":
            nodes.append(new_leaf("f", requirement))
        else:
            child_req = [A] if kind == "alternatives" else [R, C, D]
            children = [new_leaf(path, draw(st.sampled_from(child_req))) for _ in range(draw(st.integers(1, 3)))]
            nodes.append(sub(path, children, requirement, cond))
    return flow(*nodes), world


def must_run(nodes, world) -> tuple[set[str], list[set[str]], bool]:  # noqa: ANN001
    """Oracle: leaves that must complete, groups of which one must complete, and whether it can finish."""
    required: set[str] = set()
    groups: list[set[str]] = []
    ok = True
    if any(n.requirement is A for n in nodes):
        usable = {n.path for n in nodes if n.requirement is A and world.get(n.name, True)}
        groups.append(usable)
        return required, groups, bool(usable)
    for n in nodes:
        if n.requirement is D or (n.requirement is C and not n.when.value):
            continue
        if n.subflow is not None:
            r, g, sub_ok = must_run(n.subflow.steps, world)
            required |= r
            groups += g
            ok = ok and sub_ok
        else:
            required.add(n.path)
            ok = ok and world.get(n.name, True)
    return required, groups, ok


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(trees())
def test_property_required_or_applicable_steps_are_never_skipped(tree):
    f, world = tree
    engine, state, ctx = FlowEngine(), FlowState(), contexts(world)
    result = run(engine, f, state, ctx)
    required, groups, can_finish = must_run(f.steps, world)
    if can_finish:
        assert isinstance(result, Complete), result
        assert required <= set(state.completed), (required, state.completed)
        for group in groups:
            assert group & set(state.completed), group
    else:
        assert isinstance(result, Blocked), result
