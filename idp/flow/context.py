"""The narrow context a step or condition sees: the user, the request being signed into, services."""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.config import AppConfig
    from idp.models import User
    from idp.services import Services

T = TypeVar("T")


class Memo:
    """Answers worth computing once per request (is a step applicable, the user's enforcement status, ...),
    shared by all FlowContexts of that request. `renew` forgets them when the flow's progress changed (a step
    succeeded, the user became known), so no answer outlives the facts it was computed from."""

    def __init__(self) -> None:
        self._answers: dict[Hashable, Any] = {}
        self._generation: Hashable = None

    def remember(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key not in self._answers:
            self._answers[key] = compute()
        return self._answers[key]

    def renew(self, generation: Hashable) -> None:
        if generation != self._generation:
            self._answers.clear()
            self._generation = generation


@dataclass(frozen=True)
class FlowContext:
    """What one step call may use. `step_state` is the step's own scratch space, kept in the login
    transaction between requests (e.g. which emailed code is pending); the engine persists it."""

    db: "Session"
    config: "AppConfig"
    services: "Services"
    now: datetime
    user: "User | None" = None
    client_id: str | None = None
    acr_values: tuple[str, ...] = ()
    provider: str | None = None                       # upstream provider the user signed in through
    upstream: dict[str, Any] = field(default_factory=dict)  # upstream `amr`/`acr` seen
    amr: tuple[str, ...] = ()                          # what this sign-in proved so far
    login_hint: str | None = None                      # the email the client suggested
    ip: str | None = None
    user_agent: str | None = None
    device_cookie: str | None = None                   # raw "signed in here before" cookie (idp.attempts.counters)
    transaction_id: int | None = None
    browser_remembered: bool = False                   # a valid "don't ask again" for ctx.user (web layer)
    set_up_second_factor: bool = False                 # "Set it up now" chosen in this sign-in (FlowState)
    step_state: dict[str, Any] = field(default_factory=dict)
    memo: Memo = field(default_factory=Memo)           # shared by one request's contexts (sign-in service)
