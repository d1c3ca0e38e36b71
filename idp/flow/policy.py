"""Loads a policy directory (one TOML file per flow) into a checked, frozen PolicySet, or refuses it."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .identification import check_entry_flow
from .model import Flow, PolicySet, Source, StepNode
from .policy_file import FlowSpec, read_flow
from .policy_graph import buildable, cycle_problems, entry_flows, find_cycles, unknown_refs
from .problems import PolicyError, Problem, in_order
from .protocols import Step
from .registry import step_types as registered_step_types

__all__ = ["PolicyError", "load_policies", "policy_files"]


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    data: bytes

    @property
    def flow_name(self) -> str:
        return self.path.stem


def policy_files(directory: Path) -> list[Path]:
    """The directory's `*.toml` files, sorted by name (hidden files, such as editors' temporary ones, skipped)."""
    return sorted(p for p in Path(directory).glob("*.toml") if p.is_file() and not p.name.startswith("."))


def _digest(files: list[_File]) -> str:
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path.name):
        name = item.path.name.encode()
        digest.update(len(name).to_bytes(8, "big") + name + len(item.data).to_bytes(8, "big") + item.data)
    return digest.hexdigest()


def _read_files(directory: Path) -> list[_File]:
    if not Path(directory).is_dir():
        raise PolicyError([f"{directory}: the policy directory does not exist"])
    paths = policy_files(directory)
    if not paths:
        raise PolicyError([f"{directory}: no policy files (*.toml) in the policy directory"])
    return [_File(path, path.read_bytes()) for path in paths]


def _parse(files: list[_File], steps: dict[str, type[Step]]) -> tuple[dict[str, FlowSpec], list[Problem]]:
    specs: dict[str, FlowSpec] = {}
    problems: list[Problem] = []
    for item in files:
        try:
            text = item.data.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(Problem(Source(str(item.path), item.data[: err.start].count(b"\n") + 1),
                                    "the file is not UTF-8 text"))
            continue
        spec, found = read_flow(item.flow_name, str(item.path), text, steps)
        problems += found
        if spec is not None:
            specs[spec.name] = spec
    return specs, problems


def _build(name: str, specs: Mapping[str, FlowSpec], prefix: str) -> Flow:
    """The frozen Flow for `name`, its steps' paths under `prefix` (sub-flows are built afresh per use)."""
    spec = specs[name]
    nodes = []
    for step in spec.steps:
        path = f"{prefix}/{step.name}"
        subflow = _build(step.flow, specs, path) if step.flow is not None else None
        nodes.append(StepNode(step.name, step.type, step.requirement, path, step.source,
                              step.when, step.options, subflow))
    return Flow(spec.name, spec.description, tuple(nodes), Source(spec.file, 1))


def load_policies(directory: Path) -> PolicySet:
    """Every flow of `directory`, checked; raises PolicyError listing every mistake as `FILE:LINE: reason`."""
    files = _read_files(directory)
    steps = registered_step_types()
    specs, problems = _parse(files, steps)
    problems += unknown_refs(specs, [f.flow_name for f in files])
    cycles = find_cycles(specs)
    problems += cycle_problems(specs, cycles)
    ready = buildable(specs, cycles)
    flows = {name: _build(name, specs, name) for name in sorted(ready)}
    if len(specs) == len(files):   # entry flows are only known when every file could be read
        for name in entry_flows(specs):
            if name in flows:
                problems += check_entry_flow(flows[name], steps)
    if problems:
        raise PolicyError(in_order(problems))
    return PolicySet(flows=flows, digest=_digest(files))
