"""Reads one policy file (one flow) into a FlowSpec, with every problem found in that file alone."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from .locate import Locator
from .model import Source
from .policy_step import SUBFLOW, StepReader, StepSpec
from .problems import Problem
from .protocols import Step
from .requirement import Requirement

_TOP_KEYS = ("description", "step")
_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)|\s*\(at end of document\)")


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A flow as written in its file; `complete` is False when any of its steps had a problem."""

    name: str
    file: str
    description: str
    steps: tuple[StepSpec, ...]
    refs: tuple[tuple[int, str], ...]   # (step index, flow name) of every sub-flow step, even faulty ones
    locator: Locator
    complete: bool

    def ref_line(self, index: int) -> Source:
        return Source(self.file, self.locator.step(index, SUBFLOW))


def _syntax_problem(file: str, text: str, err: tomllib.TOMLDecodeError) -> Problem:
    """The TOML reader's complaint at the line it names (the last line for "at end of document")."""
    message = str(err)
    found = _AT_LINE.search(message)
    last = max(1, len(text.splitlines()))
    line = getattr(err, "lineno", None) or (int(found.group(1)) if found and found.group(1) else last)
    reason = _AT_LINE.sub("", message) if found else message
    if found and found.group(2):
        reason += f" (column {found.group(2)})"
    return Problem(Source(file, line), f"not valid TOML: {reason}")


def _sub_flow_refs(steps: list[Any]) -> tuple[tuple[int, str], ...]:
    return tuple((i, t[SUBFLOW]) for i, t in enumerate(steps)
                 if isinstance(t, dict) and t.get("type") == SUBFLOW and isinstance(t.get(SUBFLOW), str))


def _top_level(file: str, doc: dict[str, Any], locator: Locator) -> tuple[str, list[Any], list[Problem]]:
    problems = [Problem(Source(file, locator.top(key)), f"unknown key {key!r} (a policy file has only "
                        "`description` and [[step]] tables)") for key in doc if key not in _TOP_KEYS]
    description = doc.get("description")
    if not isinstance(description, str) or not description.strip():
        what = "has no `description`" if description is None else "`description` must be a non-empty string"
        problems.append(Problem(Source(file, locator.top("description")),
                                f'{what}: write description = "what this flow is for"'))
        description = ""
    steps = doc.get("step", [])
    if not isinstance(steps, list):
        problems.append(Problem(Source(file, locator.top("step")), "`step` must be written as [[step]] tables"))
        steps = []
    elif not steps:
        problems.append(Problem(Source(file, 1), "the flow is empty: add at least one [[step]]"))
    return description, steps, problems


def _duplicates(file: str, specs: list[StepSpec], locator: Locator) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for spec in specs:
        if spec.name in seen:
            problems.append(Problem(Source(file, locator.step(spec.index, "name")),
                                    f"duplicate step name {spec.name!r} (also step #{seen[spec.name] + 1}): "
                                    "give one of them a different `name`"))
        seen.setdefault(spec.name, spec.index)
    return problems


def _mixing(file: str, specs: list[StepSpec], locator: Locator) -> list[Problem]:
    kinds = {s.requirement for s in specs}
    if Requirement.ALTERNATIVE not in kinds or not kinds & {Requirement.REQUIRED, Requirement.CONDITIONAL}:
        return []
    first = next(s for s in specs if s.requirement is Requirement.ALTERNATIVE)
    return [Problem(Source(file, locator.step(first.index, "requirement")),
                    "alternative steps must not be mixed with required or conditional steps in one flow; "
                    "move the alternatives into a sub-flow")]


def _finishes(name: str, file: str, specs: list[StepSpec], locator: Locator) -> list[Problem]:
    if not specs or any(s.requirement is not Requirement.DISABLED for s in specs):
        return []
    line = locator.step(specs[0].index)
    return [Problem(Source(file, line), f"flow {name!r} can never finish: every step is disabled")]


def read_flow(name: str, file: str, text: str,
              step_types: dict[str, type[Step]]) -> tuple[FlowSpec | None, list[Problem]]:
    """The flow in `text` (the contents of `file`), or None when it is not even valid TOML."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return None, [_syntax_problem(file, text, err)]
    locator = Locator.from_text(text)
    description, tables, problems = _top_level(file, doc, locator)
    reader = StepReader(file, locator, step_types)
    specs = [spec for i, table in enumerate(tables) if (spec := reader.read(i, table)) is not None]
    complete = len(specs) == len(tables)
    problems += reader.problems + _duplicates(file, specs, locator) + _mixing(file, specs, locator)
    if complete:
        problems += _finishes(name, file, specs, locator)
    spec = FlowSpec(name, file, description, tuple(specs), _sub_flow_refs(tables), locator,
                    complete and not problems)
    return spec, problems
