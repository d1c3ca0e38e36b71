"""Layering of the sign-in: the service and the flow engine import no Flask; web/login and web/oauth do not
import each other's views (web/oauth may use web/login's session handle and start of a sign-in; web/login
reaches the authorization endpoint only by URL)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3] / "idp"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else _absolute(path, node.module, node.level)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _absolute(path: Path, module: str, level: int) -> str:
    package = path.relative_to(ROOT.parent).with_suffix("").parts[:-level]
    return ".".join((*package, module))


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_sign_in_service_and_the_flow_engine_import_no_flask():
    for path in _modules("signin") + _modules("flow"):
        flask = {n for n in _imports(path) if n.split(".")[0] in {"flask", "flask_login", "werkzeug"}}
        assert not flask, f"{path.relative_to(ROOT)} imports {sorted(flask)}"


def test_web_login_does_not_import_web_oauth():
    for path in _modules("web/login"):
        wrong = {n for n in _imports(path) if n.startswith("idp.web.oauth")}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_web_oauth_does_not_import_the_sign_in_views():
    for path in _modules("web/oauth"):
        wrong = {n for n in _imports(path) if n.startswith("idp.web.login.views")}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"
