"""Job handlers by `kind`: `@handler("email")` registers one; an unknown kind is refused when queued."""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.services import Services

Handler = Callable[["Services", dict[str, Any]], None]
"""Delivers one job's payload; MUST raise (DeliveryError, whose text holds no secret) when it did not."""

DeadHook = Callable[["Session", "Services", dict[str, Any]], None]
"""Runs in the transaction that buries a job of its kind (e.g. an audit entry naming what was not delivered)."""

_HANDLERS: dict[str, Handler] = {}
_ON_DEAD: dict[str, DeadHook] = {}


class UnknownKind(LookupError):
    """No handler for this job kind in this version of the server."""


def handler(kind: str, *, on_dead: DeadHook | None = None) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not function:
            raise ValueError(f"outbox: two handlers for kind {kind!r}")
        _HANDLERS[kind] = function
        if on_dead is not None:
            _ON_DEAD[kind] = on_dead
        return function
    return register


def dead_hook(kind: str) -> DeadHook | None:
    """What to do when a job of `kind` is buried, besides the generic `outbox_job_dead` entry."""
    return _ON_DEAD.get(kind)


def require(kind: str) -> Handler:
    """The handler of `kind`; UnknownKind when there is none (a job nobody could deliver is never queued)."""
    import_module("idp.outbox.handlers")      # registers the built-in kinds (and the modules that add theirs)
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise UnknownKind(f"outbox: no handler for job kind {kind!r}") from None


def kinds() -> list[str]:
    import_module("idp.outbox.handlers")
    return sorted(_HANDLERS)
