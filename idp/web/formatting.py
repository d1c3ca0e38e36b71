"""One way to show dates, times and counts on every page: "6 Dec 2026, 18:59 UTC", "1 day", "7 days"."""
from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Flask
from markupsafe import Markup, escape

ZONE = "UTC"


def when(value: datetime | None, never: str = "Never") -> Markup:
    """A <time> element in the one format and zone of the IdP's pages."""
    if value is None:
        return Markup(escape(never))
    moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = f"{moment.day} {moment:%b %Y, %H:%M} {ZONE}"
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), text)


def day(value: date | datetime | None, never: str = "Never") -> Markup:
    if value is None:
        return Markup(escape(never))
    return Markup('<time datetime="{}">{}</time>').format(value.isoformat()[:10], f"{value.day} {value:%b %Y}")


def plural(count: int, word: str, many: str | None = None) -> str:
    """plural(1, "day") → "1 day"; plural(7, "day") → "7 days"; plural(2, "entry", "entries")."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def init_app(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(day, "day")
    app.add_template_filter(plural, "plural")
