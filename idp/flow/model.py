"""The typed, frozen tree a policy file becomes: flows, their steps and where each was written."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .requirement import Requirement


@dataclass(frozen=True, slots=True)
class Source:
    """Where something was written, for `FILE:LINE: reason` messages."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class StepNode:
    """One entry of a flow: a step of some type, or (type "flow") a sub-flow run in its place."""

    name: str
    type: str
    requirement: Requirement
    path: str                     # "browser/second-factor/totp", unique in a policy set
    source: Source
    when: Any = None              # a Condition (see protocols.Condition) or None
    options: Any = None           # the step type's own Options instance
    subflow: "Flow | None" = None

    @property
    def is_subflow(self) -> bool:
        return self.subflow is not None


@dataclass(frozen=True, slots=True)
class Flow:
    """An ordered list of steps, loaded from one policy file (the file name, less .toml, is the flow's name)."""

    name: str
    description: str
    steps: tuple[StepNode, ...]
    source: Source


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every flow of a policy directory, and a digest that changes whenever any file changes."""

    flows: dict[str, Flow] = field(default_factory=dict)
    digest: str = ""

    def flow(self, name: str) -> Flow:
        try:
            return self.flows[name]
        except KeyError:
            raise KeyError(f"no flow named {name!r} in the policy directory") from None
