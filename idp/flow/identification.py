"""Checks that an entry flow learns who is signing in before any step that needs to know."""
from __future__ import annotations

from dataclasses import dataclass, field

from .model import Flow, StepNode
from .problems import Problem
from .protocols import Step
from .requirement import Requirement

_HINT = "put a step that identifies them (password, passkey or upstream sign-in) before it"


def _live(flow: Flow) -> list[StepNode]:
    return [s for s in flow.steps if s.requirement is not Requirement.DISABLED]


@dataclass
class _Walk:
    step_types: dict[str, type[Step]]
    problems: list[Problem] = field(default_factory=list)
    blamed: set[str] = field(default_factory=set)

    def flow(self, flow: Flow, known: bool, anchor: StepNode | None) -> bool:
        """Walks `flow` in order; returns whether the user is surely known once it has succeeded."""
        live = _live(flow)
        if any(s.requirement is Requirement.ALTERNATIVE for s in live):
            results = [self.step(s, known, anchor) for s in live]
            return known or all(results)
        for node in live:
            after = self.step(node, known, anchor)
            if node.requirement is Requirement.REQUIRED:
                known = after
        return known

    def step(self, node: StepNode, known: bool, anchor: StepNode | None) -> bool:
        if node.subflow is not None:
            return self.flow(node.subflow, known, anchor or node)
        if self.step_types[node.type].identifies_user:
            return True
        if not known:
            self.blame(anchor, node)
        return known

    def blame(self, anchor: StepNode | None, node: StepNode) -> None:
        where = anchor or node
        if where.path in self.blamed:
            return
        self.blamed.add(where.path)
        if anchor is None:
            reason = f"step {node.name!r} needs to know who is signing in, but no step before it identifies them"
        else:
            reason = (f"sub-flow step {anchor.name!r} first runs {node.path!r}, which needs to know who is "
                      "signing in, but no step before it identifies them")
        self.problems.append(Problem(where.source, f"{reason}: {_HINT}"))


def identifies_somewhere(flow: Flow, step_types: dict[str, type[Step]]) -> bool:
    """Whether any step that can run, in the flow or its sub-flows, identifies the user."""
    for node in _live(flow):
        if node.subflow is not None:
            if identifies_somewhere(node.subflow, step_types):
                return True
        elif step_types[node.type].identifies_user:
            return True
    return False


def check_entry_flow(flow: Flow, step_types: dict[str, type[Step]]) -> list[Problem]:
    """Problems of an entry flow: it never identifies the user, or a step needs the user too early."""
    if not identifies_somewhere(flow, step_types):
        return [Problem(flow.source, f"flow {flow.name!r} never identifies the person signing in: "
                                     "add a password, passkey or upstream step first")]
    walk = _Walk(step_types)
    if not walk.flow(flow, False, None) and not walk.problems:
        walk.problems.append(Problem(flow.source, f"flow {flow.name!r} can finish without identifying the person "
                                                  "signing in: make its identifying step required"))
    return walk.problems
