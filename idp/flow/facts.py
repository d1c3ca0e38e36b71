"""What conditions may ask about the person signing in; the domain layer answers (idp.services.Facts)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .context import FlowContext


class Enforcement(enum.StrEnum):
    """Where the user stands with their organisation's "Require Two-Factor Authentication" setting."""

    OFF = "off"            # the organisation does not require 2FA
    EXEMPT = "exempt"      # required, but the user (or one of their groups) is on the exempt list
    GRACE = "grace"        # required, user not enrolled yet, still inside the grace period
    REQUIRED = "required"  # required and due now (enrolled, or grace period over)


@dataclass(frozen=True, slots=True)
class EnforcementStatus:
    state: Enforcement
    days_left: int | None = None   # whole days of grace left (GRACE only)
    reason: str = ""               # plain words, for `idp policy explain`


class SubjectFacts(Protocol):
    """Facts about ctx.user; every method MUST raise rather than guess when it cannot answer."""

    def second_factor_enrolled(self, ctx: "FlowContext") -> bool: ...

    def enforcement(self, ctx: "FlowContext") -> EnforcementStatus: ...

    def groups(self, ctx: "FlowContext") -> frozenset[str]: ...

    def organisation(self, ctx: "FlowContext") -> str: ...

    def is_admin(self, ctx: "FlowContext") -> bool: ...
