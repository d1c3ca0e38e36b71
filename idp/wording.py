"""Words shared by every page, message and command: counts with proper plurals and the one date format."""
from __future__ import annotations

from datetime import UTC, date, datetime

ZONE = "UTC"


def plural(count: int, word: str, many: str | None = None) -> str:
    """plural(1, "day") → "1 day"; plural(7, "day") → "7 days"; plural(2, "entry", "entries") → "2 entries"."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def moment(value: datetime) -> str:
    """"6 Dec 2026, 18:59 UTC" (the zone is always UTC, and always said)."""
    at = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return f"{at.day} {at:%b %Y, %H:%M} {ZONE}"


def day(value: date | datetime) -> str:
    """"6 Dec 2026"."""
    return f"{value.day} {value:%b %Y}"
