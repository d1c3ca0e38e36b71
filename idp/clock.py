"""The one clock of the application, replaceable in tests (grace periods, expiries, TOTP)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Current time, aware UTC."""
    return _source()


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Tests: replace the clock (None restores the system clock). Applies to this process only."""
    global _source
    _source = source or (lambda: datetime.now(UTC))
