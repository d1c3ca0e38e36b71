"""The package rules of docs/architecture.md, checked on the source: no Flask below idp.web (and the app
factory), nothing imports idp.web, the flow engine knows no step or factor, and the packages' import graph
has no cycle. Imports inside functions count (a deferred import is still a dependency); imports under
`if TYPE_CHECKING:` do not (they never run)."""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "idp"
COMPOSITION_ROOTS = {"idp.app", "idp.server", "idp.cli"}   # they build the app: they may import idp.web
FLASK = ("flask", "flask_login", "flask_wtf", "werkzeug")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for n in ast.iter_child_nodes(node) if False)   # skipped: never runs
            for other in node.orelse:
                yield from _runtime_imports(other)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def _targets(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = name.split(".") if MODULES[name].name == "__init__.py" else name.split(".")[:-1]
        anchor = anchor[:len(anchor) - node.level + 1]
        base = ".".join(anchor + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]


def imports_of(name: str) -> set[str]:
    """Every module (of idp, or outside it) that `name` imports at run time."""
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    for node in _runtime_imports(tree):
        for target in _targets(name, node):
            while target not in MODULES and "." in target and target.startswith("idp."):
                target = target.rsplit(".", 1)[0]
            found.add(target)
    found.discard(name)
    return found


def unit(module: str) -> str:
    """What the rules speak of: idp.web's areas, the flow engine apart from its plug-ins, else the top level."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "web":
        return ".".join(parts[:3])
    if len(parts) >= 3 and parts[1] == "flow" and parts[2] in ("steps", "conditions"):
        return ".".join(parts[:3])
    return ".".join(parts[:2])


GRAPH = {name: imports_of(name) for name in MODULES}


def test_no_flask_below_idp_web() -> None:
    offenders = sorted(f"{name} imports {target}" for name, targets in GRAPH.items() for target in targets
                       if target.split(".")[0] in FLASK and not name.startswith("idp.web")
                       and unit(name) not in COMPOSITION_ROOTS)
    assert offenders == []


def test_nothing_imports_idp_web() -> None:
    offenders = sorted(f"{name} imports {target}" for name, targets in GRAPH.items() for target in targets
                       if target.startswith("idp.web") and not name.startswith("idp.web")
                       and unit(name) not in COMPOSITION_ROOTS)
    assert offenders == []


def test_the_flow_engine_knows_no_step_factor_or_domain_module() -> None:
    """idp.flow (apart from its plug-ins, steps and conditions) imports only idp.flow, idp.clock, idp.config."""
    allowed = ("idp.flow", "idp.clock", "idp.config")
    offenders = sorted(f"{name} imports {target}" for name, targets in GRAPH.items() if unit(name) == "idp.flow"
                       for target in targets if target.startswith("idp.") and not target.startswith(allowed))
    assert offenders == []


def test_factor_modules_import_no_web_layer() -> None:
    offenders = sorted(f"{name} imports {target}" for name, targets in GRAPH.items()
                       if name.startswith("idp.factors") for target in targets
                       if target.startswith("idp.web") or target.split(".")[0] in FLASK)
    assert offenders == []


def test_the_units_import_graph_has_no_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        for target in targets:
            if target in MODULES and unit(target) != unit(name):
                edges.setdefault(unit(name), set()).add(unit(target))
    cycles = _cycles(edges)
    witnesses = [f"{a} -> {b} ({', '.join(_why(a, b))})" for cycle in cycles for a in cycle for b in cycle
                 if b in edges.get(a, ())]
    assert cycles == [], "\n".join(witnesses)


def _why(a: str, b: str) -> list[str]:
    return sorted(f"{n} imports {t}" for n, ts in GRAPH.items() if unit(n) == a for t in ts
                  if t in MODULES and unit(t) == b)[:3]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for vertex in sorted(edges):
        if vertex not in index:
            visit(vertex)
    return found
