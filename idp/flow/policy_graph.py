"""How flows use each other as sub-flows: unknown names, cycles, entry flows and which flows can be built."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from .policy_file import FlowSpec
from .problems import Problem


def unknown_refs(specs: Mapping[str, FlowSpec], names: Iterable[str]) -> list[Problem]:
    """A problem for every sub-flow step naming a flow with no file (`names`: every file's flow name)."""
    known = set(names)
    return [Problem(spec.ref_line(index), f"sub-flow {ref!r} does not exist: there is no file {ref}.toml "
                                          f"(flows: {', '.join(sorted(known))})")
            for spec in specs.values() for index, ref in spec.refs if ref not in known]


def _edges(spec: FlowSpec, specs: Mapping[str, FlowSpec]) -> list[tuple[int, str]]:
    return [(index, ref) for index, ref in spec.refs if ref in specs]


def _canonical(cycle: list[str]) -> tuple[str, ...]:
    """The cycle rotated to start at its alphabetically first flow, so each is reported once."""
    start = cycle.index(min(cycle))
    return tuple(cycle[start:] + cycle[:start])


def find_cycles(specs: Mapping[str, FlowSpec]) -> list[tuple[str, ...]]:
    """Every cycle a depth-first search meets (as flow names, not repeating the first at the end)."""
    found: dict[tuple[str, ...], None] = {}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        path.append(name)
        for _, ref in _edges(specs[name], specs):
            if ref in path:
                found.setdefault(_canonical(path[path.index(ref):]))
            elif ref not in done:
                visit(ref, path)
        path.pop()
        done.add(name)

    for name in sorted(specs):
        if name not in done:
            visit(name, [])
    return list(found)


def cycle_problems(specs: Mapping[str, FlowSpec], cycles: Iterable[tuple[str, ...]]) -> list[Problem]:
    problems = []
    for cycle in cycles:
        first, second = cycle[0], cycle[1 % len(cycle)]
        index = next(i for i, ref in specs[first].refs if ref == second)
        shown = " → ".join([*cycle, cycle[0]])
        problems.append(Problem(specs[first].ref_line(index),
                                f"sub-flows form a cycle: {shown}; a flow cannot run itself"))
    return problems


def buildable(specs: Mapping[str, FlowSpec], cycles: Iterable[tuple[str, ...]]) -> set[str]:
    """Flows that are complete, on no cycle, and use only flows that are buildable too."""
    on_cycle = {name for cycle in cycles for name in cycle}
    verdicts: dict[str, bool] = {}

    def ok(name: str) -> bool:
        if name not in verdicts:
            spec = specs.get(name)
            verdicts[name] = False   # provisional: guards against cycles
            verdicts[name] = (spec is not None and spec.complete and name not in on_cycle
                              and all(ok(ref) for _, ref in spec.refs))
        return verdicts[name]

    return {name for name in specs if ok(name)}


def entry_flows(specs: Mapping[str, FlowSpec]) -> list[str]:
    """Flows that no other flow uses as a sub-flow: where a sign-in starts."""
    used = {ref for spec in specs.values() for _, ref in spec.refs if ref != spec.name}
    return sorted(name for name in specs if name not in used)
