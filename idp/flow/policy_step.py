"""Reads one `[[step]]` table of a policy file into a checked StepSpec, or says what is wrong with it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .locate import Locator
from .model import Source
from .problems import Problem
from .protocols import Condition, Step
from .requirement import Requirement
from .step_options import build_options
from .when import parse_when

SUBFLOW = "flow"
_COMMON_KEYS = ("type", "requirement", "name", "when")
_REQUIREMENTS = ", ".join(r.value for r in Requirement)


@dataclass(frozen=True, slots=True)
class StepSpec:
    """A step as written, checked on its own; sub-flows are still names (resolved later)."""

    index: int                    # 0-based position in the file
    name: str
    type: str
    requirement: Requirement
    source: Source                # the `[[step]]` header
    when: Condition | None = None
    options: Any = None
    flow: str | None = None       # the sub-flow's name, for type "flow"


@dataclass
class StepReader:
    """Reads the steps of one file, collecting every problem at the line it belongs to."""

    file: str
    locator: Locator
    step_types: dict[str, type[Step]]
    problems: list[Problem] = field(default_factory=list)

    def report(self, index: int, reason: str, key: str | None = None) -> None:
        self.problems.append(Problem(Source(self.file, self.locator.step(index, key)), reason))

    def read(self, index: int, table: Any) -> StepSpec | None:
        """The step at `index`, or None when it has a problem (reported)."""
        if not isinstance(table, dict):
            self.report(index, "each step must be a [[step]] table")
            return None
        before = len(self.problems)
        kind = self._type(index, table)
        requirement = self._requirement(index, table)
        name = self._name(index, table, kind)
        when = self._when(index, table, requirement)
        options, flow = self._rest(index, table, kind)
        if len(self.problems) > before or kind is None or requirement is None or name is None:
            return None
        source = Source(self.file, self.locator.step(index))
        return StepSpec(index, name, kind, requirement, source, when, options, flow)

    def _type(self, index: int, table: dict[str, Any]) -> str | None:
        kind = table.get("type")
        if kind is None:
            self.report(index, 'the step has no `type`: write type = "password" (or another step type, or "flow")')
        elif not isinstance(kind, str):
            self.report(index, f"`type` must be a string, not {kind!r}", "type")
        elif kind != SUBFLOW and kind not in self.step_types:
            known = ", ".join(sorted([*self.step_types, SUBFLOW]))
            self.report(index, f"unknown step type {kind!r} (known: {known})", "type")
        else:
            return kind
        return None

    def _requirement(self, index: int, table: dict[str, Any]) -> Requirement | None:
        value = table.get("requirement")
        if value is None:
            self.report(index, f"the step has no `requirement`: write requirement = \"required\" (or {_REQUIREMENTS})")
            return None
        try:
            return Requirement(value)
        except ValueError:
            self.report(index, f"unknown requirement {value!r} (use one of: {_REQUIREMENTS})", "requirement")
            return None

    def _name(self, index: int, table: dict[str, Any], kind: str | None) -> str | None:
        name = table.get("name")
        if name is None:
            flow = table.get("flow")
            return flow if kind == SUBFLOW and isinstance(flow, str) else kind
        if not isinstance(name, str) or not name.strip() or "/" in name:
            self.report(index, f"`name` must be a non-empty string without '/', not {name!r}", "name")
            return None
        return name

    def _when(self, index: int, table: dict[str, Any], requirement: Requirement | None) -> Condition | None:
        if "when" not in table:
            if requirement is Requirement.CONDITIONAL:
                self.report(index, "a conditional step needs `when = { ... }`, the condition that decides "
                                   "whether it runs", "requirement")
            return None
        if requirement in (Requirement.REQUIRED, Requirement.ALTERNATIVE):
            self.report(index, f'`when` is only allowed on conditional steps (requirement = "conditional"); '
                               f"this step is {requirement.value}", "when")
            return None
        try:
            return parse_when(table["when"])
        except ValueError as err:
            self.report(index, str(err), "when")
            return None

    def _rest(self, index: int, table: dict[str, Any], kind: str | None) -> tuple[Any, str | None]:
        """The step type's options, or for a sub-flow step the flow it names."""
        extra = {k: v for k, v in table.items() if k not in _COMMON_KEYS and k != SUBFLOW}
        if kind == SUBFLOW:
            for key in extra:
                self.report(index, f"unknown key {key!r} (a sub-flow step takes only type, requirement, "
                                   f"name, when and flow)", key)
            return None, self._flow(index, table)
        if SUBFLOW in table:
            self.report(index, '`flow` is only allowed on steps with type = "flow"', SUBFLOW)
        if kind is None or kind not in self.step_types:
            return None, None
        options, problems = build_options(self.step_types[kind].Options, extra)
        for key, reason in problems:
            self.report(index, reason, key)
        return options, None

    def _flow(self, index: int, table: dict[str, Any]) -> str | None:
        flow = table.get(SUBFLOW)
        if flow is None:
            self.report(index, 'a step with type = "flow" needs `flow = "NAME"`, the sub-flow (file NAME.toml) '
                               "to run", "type")
        elif not isinstance(flow, str) or not flow:
            self.report(index, f"`flow` must be the name of a flow, not {flow!r}", SUBFLOW)
        else:
            return flow
        return None
