"""The combinators `any`, `all` and `not`, and `parse_when`, which reads a whole `when = { ... }` table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import FlowContext
from .protocols import Condition, Verdict
from .registry import condition_types, register_condition


class ConditionValueError(ValueError):
    """A bad value already worded with the condition it belongs to (not wrapped again by outer tables)."""


def parse_when(value: Any) -> Condition:
    """One condition from a table: each key a condition type; several keys must all hold."""
    if not isinstance(value, dict):
        raise ConditionValueError(f"a condition must be a table like {{ admin = true }}, not {value!r}")
    if not value:
        raise ConditionValueError("the condition table is empty: name at least one condition")
    known = condition_types()
    parts = []
    for kind, raw in value.items():
        if kind not in known:
            raise ConditionValueError(f"unknown condition type {kind!r} (known: {', '.join(sorted(known))})")
        try:
            parts.append(known[kind].parse(raw))
        except ConditionValueError:
            raise
        except ValueError as err:
            raise ConditionValueError(f"bad value for condition {kind!r}: {err}") from None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _parse_list(value: Any) -> tuple[Condition, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a list of condition tables like [ {{ admin = true }}, {{ group = \"ops\" }} ], "
                         f"not {value!r}")
    return tuple(parse_when(item) for item in value)


@register_condition
@dataclass(frozen=True)
class AllOf(Condition):
    kind = "all"
    description = "every one of the listed conditions holds"

    parts: tuple[Condition, ...]

    @classmethod
    def parse(cls, value: Any) -> "AllOf":
        return cls(_parse_list(value))

    def evaluate(self, ctx: FlowContext) -> Verdict:
        reasons = []
        for part in self.parts:
            verdict = part.evaluate(ctx)
            if not verdict.holds:
                return verdict
            reasons.append(verdict.reason)
        return Verdict(True, "; ".join(reasons))


@register_condition
@dataclass(frozen=True)
class AnyOf(Condition):
    kind = "any"
    description = "at least one of the listed conditions holds"

    parts: tuple[Condition, ...]

    @classmethod
    def parse(cls, value: Any) -> "AnyOf":
        return cls(_parse_list(value))

    def evaluate(self, ctx: FlowContext) -> Verdict:
        reasons = []
        for part in self.parts:
            verdict = part.evaluate(ctx)
            if verdict.holds:
                return verdict
            reasons.append(verdict.reason)
        return Verdict(False, "; ".join(reasons))


@register_condition
@dataclass(frozen=True)
class Not(Condition):
    kind = "not"
    description = "the given condition does not hold"

    part: Condition

    @classmethod
    def parse(cls, value: Any) -> "Not":
        return cls(parse_when(value))

    def evaluate(self, ctx: FlowContext) -> Verdict:
        verdict = self.part.evaluate(ctx)
        return Verdict(not verdict.holds, verdict.reason)
