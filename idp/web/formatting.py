"""Jinja filters for one way to show dates, times and counts on every page: |when, |day, |plural."""
from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Flask
from markupsafe import Markup, escape

from idp import wording


def when(value: datetime | None, never: str = "Never") -> Markup:
    """A <time> element in the one format and zone of the IdP's pages ("6 Dec 2026, 18:59 UTC")."""
    if value is None:
        return Markup(escape(never))
    at = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return Markup('<time datetime="{}">{}</time>').format(at.isoformat(), wording.moment(at))


def day(value: date | datetime | None, never: str = "Never") -> Markup:
    if value is None:
        return Markup(escape(never))
    return Markup('<time datetime="{}">{}</time>').format(value.isoformat()[:10], wording.day(value))


def init_app(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(day, "day")
    app.add_template_filter(wording.plural, "plural")
