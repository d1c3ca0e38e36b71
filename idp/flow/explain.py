"""`idp policy explain`: which steps a given user would get right now, and why, without signing in."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from .context import FlowContext
from .engine import FlowEngine
from .model import Flow, StepNode
from .requirement import Requirement

ContextFor = Callable[[str], FlowContext]


@dataclass(frozen=True)
class TraceLine:
    """One step of the trace: what it is, what would happen, and why."""

    depth: int
    path: str
    step: str
    requirement: str
    decision: str   # runs | skipped | blocked | offered | not offered | asked first
    reason: str

    def to_json(self) -> dict:
        return asdict(self)


def explain_flow(engine: FlowEngine, flow: Flow, context_for: ContextFor) -> list[TraceLine]:
    """Walk the flow as the engine would for ctx.user, assuming each step the user can do succeeds."""
    lines: list[TraceLine] = []
    _walk(engine, flow.steps, 0, context_for, lines)
    return lines


def _walk(engine: FlowEngine, nodes: tuple[StepNode, ...], depth: int, context_for: ContextFor,
          lines: list[TraceLine]) -> None:
    if any(n.requirement is Requirement.ALTERNATIVE for n in nodes):
        _walk_alternatives(engine, nodes, depth, context_for, lines)
        return
    for node in nodes:
        decision, reason = _decide(engine, node, context_for)
        lines.append(_line(engine, node, depth, decision, reason))
        if node.subflow is not None and decision == "runs":
            _walk(engine, node.subflow.steps, depth + 1, context_for, lines)


def _decide(engine: FlowEngine, node: StepNode, context_for: ContextFor) -> tuple[str, str]:
    if node.requirement is Requirement.DISABLED:
        return "skipped", "disabled in the policy file"
    if node.requirement is Requirement.CONDITIONAL:
        try:
            verdict = node.when.evaluate(context_for(node.path))
        except Exception as exc:  # noqa: BLE001 - shown to the admin; the live flow stops here too
            return "blocked", f"the condition could not be evaluated, so sign-in would stop: {exc}"
        if not verdict.holds:
            return "skipped", f"condition does not hold: {verdict.reason}"
        if node.subflow is not None:
            return "runs", f"condition holds: {verdict.reason}"
        usable, why = _usable(engine, node, context_for)
        return ("runs" if usable else "blocked"), f"condition holds: {verdict.reason}; {why}"
    if node.subflow is not None:
        return "runs", "required"
    usable, why = _usable(engine, node, context_for)
    return ("runs" if usable else "blocked"), why


def _usable(engine: FlowEngine, node: StepNode, context_for: ContextFor) -> tuple[bool, str]:
    step = engine.step_for(node)
    if step.identifies_user:
        return True, "identifies the person signing in"
    try:
        applicable = step.is_applicable(context_for(node.path))
    except Exception as exc:  # noqa: BLE001
        return False, f"could not be checked, so sign-in would stop: {exc}"
    if applicable:
        return True, f"{step.title} is set up for this account"
    return False, f"{step.title} is not set up for this account, so sign-in would stop here"


def _walk_alternatives(engine: FlowEngine, nodes: tuple[StepNode, ...], depth: int, context_for: ContextFor,
                       lines: list[TraceLine]) -> None:
    offered = []
    for node in nodes:
        if node.requirement is not Requirement.ALTERNATIVE:
            lines.append(_line(engine, node, depth, "skipped", "disabled in the policy file"))
            continue
        usable, why = (True, "a sub-flow") if node.subflow else _usable(engine, node, context_for)
        offered.append(node) if usable else None
        lines.append(_line(engine, node, depth, "offered" if usable else "not offered", why))
    if not offered:
        lines.append(TraceLine(depth, "", "", "", "blocked",
                               "none of these alternatives can be used by this account: sign-in would stop"))
        return
    first = _preferred(offered, context_for(offered[0].path))
    for index, line in enumerate(lines):
        if line.path == first.path and line.decision == "offered":
            lines[index] = TraceLine(line.depth, line.path, line.step, line.requirement, "asked first",
                                     line.reason + " (the others are under \"Try another way\")")


def _preferred(offered: list[StepNode], ctx: FlowContext) -> StepNode:
    preferred = getattr(ctx.user, "preferred_method", None)
    return next((n for n in offered if n.type == preferred), offered[0])


def _line(engine: FlowEngine, node: StepNode, depth: int, decision: str, reason: str) -> TraceLine:
    title = f"flow {node.subflow.name}" if node.subflow else engine.step_for(node).title
    return TraceLine(depth, node.path, title, node.requirement.value, decision, reason)
