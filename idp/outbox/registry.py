"""Job handlers by `kind`: `@handler("email")` registers one; an unknown kind is refused when queued."""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idp.services import Services

Handler = Callable[["Services", dict[str, Any]], None]
"""Delivers one job's payload; MUST raise (DeliveryError, whose text holds no secret) when it did not."""

_HANDLERS: dict[str, Handler] = {}


class UnknownKind(LookupError):
    """No handler for this job kind in this version of the server."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not function:
            raise ValueError(f"outbox: two handlers for kind {kind!r}")
        _HANDLERS[kind] = function
        return function
    return register


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
