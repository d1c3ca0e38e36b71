"""What condition types share: reading true/false and name-list values, and naming the user in a reason."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .facts import Enforcement, EnforcementStatus, SubjectFacts
from .protocols import Condition

if TYPE_CHECKING:
    from .context import FlowContext


class UnknownUser(RuntimeError):
    """A condition about the user was asked before anyone was identified; the sign-in must stop."""


def parse_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, not {value!r}")
    return value


def parse_names(value: Any) -> tuple[str, ...]:
    """A single string or a non-empty list of non-empty strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f'expected a name or a list of names like ["a", "b"], not {value!r}')
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"expected names (non-empty strings), not {item!r}")
    return tuple(items)


def listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def who(ctx: "FlowContext", kind: str) -> str:
    """How a reason names ctx.user; raises UnknownUser when nobody is identified yet (fail closed)."""
    user = ctx.user
    if user is None:
        raise UnknownUser(f"condition {kind!r} needs to know who is signing in, but no step has identified them yet")
    for attribute in ("email", "username", "name"):
        label = getattr(user, attribute, None)
        if isinstance(label, str) and label:
            return label
    return f"user #{getattr(user, 'id', '?')}"


def facts(ctx: "FlowContext") -> SubjectFacts:
    return ctx.services.facts


@dataclass(frozen=True)
class FlagCondition(Condition):
    """A condition written `kind = true|false`: holds when the fact equals `expected`."""

    expected: bool

    @classmethod
    def parse(cls, value: Any) -> "FlagCondition":
        return cls(parse_flag(value))


@dataclass(frozen=True)
class NamesCondition(Condition):
    """A condition written `kind = ["a", "b"]` (or `kind = "a"`): holds when the fact is one of the names."""

    names: tuple[str, ...]

    @classmethod
    def parse(cls, value: Any) -> "NamesCondition":
        return cls(parse_names(value))


def enforcement_words(name: str, status: EnforcementStatus) -> str:
    """Plain words for where `name` stands with their organisation's two-factor requirement."""
    text = {
        Enforcement.OFF: f"{name}'s organisation does not require two-factor authentication",
        Enforcement.EXEMPT: f"{name} is exempt from their organisation's two-factor requirement",
        Enforcement.GRACE: f"{name}'s organisation requires two-factor authentication and {name} is in "
                           "the grace period",
        Enforcement.REQUIRED: f"{name}'s organisation requires two-factor authentication and it is due now",
    }[status.state]
    if status.state is Enforcement.GRACE and status.days_left is not None:
        text += f" ({status.days_left} day{'s' if status.days_left != 1 else ''} left)"
    return f"{text}: {status.reason}" if status.reason else text
