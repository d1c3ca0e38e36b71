"""What the sign-in service answers; the web layer turns each result into a response."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.browser.remembered import CookieSpec
from idp.models import BrowserSession, User


@dataclass(frozen=True, slots=True)
class ShowStep:
    """Render the current step's page (`template`) with what the step and its outcome want shown."""

    template: str
    title: str
    step: str                                   # the node path the page posts back as `step`
    view: dict[str, Any]
    user: User | None
    alternatives: tuple[tuple[str, str, str], ...] = ()  # (path, label, masked destination): "Try another way"
    message: str | None = None                  # why the last input was refused
    notice: str | None = None                   # where the sign-in stands (stale tab, ...)
    remember_days: int = 0                      # > 0: offer "Don't ask again on this browser"


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the browser elsewhere (an upstream identity provider) and come back."""

    url: str


@dataclass(frozen=True, slots=True)
class Completed:
    """Signed in: `session` is the new browser session (the cookie must be rotated to it).

    `for_application`: the transaction (now `signed_in`) holds the application's authorization request,
    to be answered next; otherwise the sign-in was to the identity provider itself and `next_url` (not yet
    checked to be local) says where to go. `cookie`: a "Don't ask again on this browser" cookie to set."""

    session: BrowserSession
    user: User
    amr: tuple[str, ...]
    acr: str
    for_application: bool
    next_url: str | None = None
    cookie: CookieSpec | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The sign-in stopped for good (locked, too many tries, blocked by policy); start again."""

    reason: str


@dataclass(frozen=True, slots=True)
class Problem:
    """There is no sign-in this request can continue (missing, expired, finished)."""

    message: str


Result = ShowStep | Redirect | Completed | Failed | Problem
