"""werkzeug's URL builders, compiled once per test run instead of once per test.

Every test makes its own app (create_app), and werkzeug compiles two Python functions per URL rule
(Rule._compile_builder: an AST built, walked and compiled) each time: about three quarters of the cost of
an app, ~0.15-0.3 s of CPU for every test. The function it makes depends only on the rule's text, its
parsed parts, its defaults (with their converted values) and `append_unknown`, and takes the rule as an
argument (it is bound to each Rule afterwards), so the same inputs give the same function: this keeps
them by those inputs. What an app routes and builds is unchanged; the production server never loads this.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_original: Callable[..., Any] | None = None


def _key(rule: Rule, append_unknown: bool) -> tuple | None:
    try:
        defaults = rule.defaults or {}
        converted = tuple(
            (name, repr(value), rule._converters[name].to_url(value) if name in rule._converters else None)
            for name, value in sorted(defaults.items()))
        return (rule.rule, tuple(rule._trace), converted, bool(append_unknown))
    except Exception:  # noqa: BLE001 - anything unexpected: no caching, werkzeug does its own work
        return None


def memoize_rule_builders() -> None:
    """Install the cache (once); without the werkzeug internals it relies on, leave werkzeug alone."""
    global _original
    if _original is not None or not all(hasattr(Rule, a) for a in ("_compile_builder", "_get_func_code")):
        return
    _original = Rule._compile_builder
    original = _original
    built: dict[tuple, Any] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Any:  # noqa: FBT001, FBT002
        key = _key(self, append_unknown)
        if key is None:
            return original(self, append_unknown)
        function = built.get(key)
        if function is None:
            function = built[key] = original(self, append_unknown)
        return function

    Rule._compile_builder = compile_builder
