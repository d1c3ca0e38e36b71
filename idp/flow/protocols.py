"""The contracts a step type and a condition type implement; optional capabilities are separate small protocols."""
from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from .outcome import Outcome

if TYPE_CHECKING:
    from .context import FlowContext


@dataclass(frozen=True, slots=True)
class NoOptions:
    """Options of a step type that takes none."""


class Step(abc.ABC):
    """A step type: one small class, found by `kind` in the registry (Keycloak's Authenticator)."""

    kind: ClassVar[str]                    # the `type = "..."` of a policy file
    title: ClassVar[str]                   # what the person sees ("Authenticator App")
    template: ClassVar[str]                # the page that renders its challenge
    Options: ClassVar[type] = NoOptions    # a frozen dataclass; policy keys become its fields
    amr: ClassVar[tuple[str, ...]] = ()      # RFC 8176 values this step proves when it succeeds
    identifies_user: ClassVar[bool] = False  # may run before the user is known, and names them
    second_factor: ClassVar[bool] = False    # counts as a second factor (enforcement, "mfa")

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @abc.abstractmethod
    def is_applicable(self, ctx: "FlowContext") -> bool:
        """MUST say whether this step can run for ctx.user now (e.g. the user has this factor)."""

    @abc.abstractmethod
    def begin(self, ctx: "FlowContext") -> Outcome:
        """MUST prepare the challenge (send a code, ...) and return CHALLENGE, or SUCCESS/ABORT."""

    @abc.abstractmethod
    def submit(self, ctx: "FlowContext", form: Mapping[str, str]) -> Outcome:
        """MUST check what was posted and return SUCCESS, RETRY, ABORT, CHALLENGE or EXTERNAL."""

    def view(self, ctx: "FlowContext") -> dict[str, Any]:
        """MAY return what the step's page shows each time it is rendered (no secrets kept in state)."""
        return {}


@runtime_checkable
class Resendable(Protocol):
    """A step whose challenge can be sent again (email and SMS codes)."""

    def resend(self, ctx: "FlowContext") -> Outcome: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """A condition's answer with the reason `idp policy explain` shows."""

    holds: bool
    reason: str


class Condition(abc.ABC):
    """A condition type (Keycloak's ConditionalAuthenticator): one method that reads the context."""

    kind: ClassVar[str]         # the key used in a `when = { ... }` table
    description: ClassVar[str]  # one line for the README and `idp policy check --list`

    @classmethod
    @abc.abstractmethod
    def parse(cls, value: Any) -> "Condition":
        """MUST build the condition from its TOML value or raise ValueError with a plain reason."""

    @abc.abstractmethod
    def evaluate(self, ctx: "FlowContext") -> Verdict:
        """MUST answer for ctx; an exception here stops the sign-in (fail closed), never skips a step."""
