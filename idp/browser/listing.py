"""Profile > Security > "Where you're signed in": the person's live browser sessions (browser, address,
last seen, the applications it signed in to), "Sign out" one and "Sign out everywhere else" (their refresh
tokens are revoked with them: Token.sid)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.browser import sessions
from idp.clock import now
from idp.models import BrowserSession, Client, User

_BROWSERS = (("Edge", r"Edg(?:e|A|iOS)?/"), ("Opera", r"OPR/|Opera"), ("Samsung Internet", r"SamsungBrowser/"),
             ("Firefox", r"Firefox/|FxiOS/"), ("Chrome", r"Chrome/|CriOS/|Chromium/"), ("Safari", r"Safari/"))
_SYSTEMS = (("iPhone", r"iPhone"), ("iPad", r"iPad"), ("Android", r"Android"), ("Windows", r"Windows"),
            ("ChromeOS", r"CrOS"), ("macOS", r"Mac OS X|Macintosh"), ("Linux", r"Linux|X11"))


def describe_agent(user_agent: str | None) -> str:
    """"Firefox on Windows", from a User-Agent header; "Unknown browser" when it says nothing we know."""
    text = user_agent or ""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, text)), None)
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, text)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "Unknown browser")


@dataclass(frozen=True)
class SessionLine:
    id: int
    browser: str
    ip: str | None
    signed_in_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime         # signed out if not used before then
    applications: list[str]
    current: bool


def live(db: Session, user: User) -> list[BrowserSession]:
    rows = db.scalars(sa.select(BrowserSession).where(
        BrowserSession.user_id == user.id, BrowserSession.ended_at.is_(None), BrowserSession.expires_at > now())
        .order_by(BrowserSession.last_seen_at.desc(), BrowserSession.id.desc()))
    return [row for row in rows if sessions.idle_expires_at(row) > now()]


def listing(db: Session, user: User, current_sid: str | None) -> list[SessionLine]:
    rows = live(db, user)
    client_ids = {c for row in rows for c in (row.clients or [])}
    names = {client_id: name for client_id, name in db.execute(
        sa.select(Client.client_id, Client.name).where(Client.client_id.in_(client_ids)))} if client_ids else {}
    return [SessionLine(row.id, describe_agent(row.user_agent), row.ip, row.auth_time, row.last_seen_at,
                        sessions.idle_expires_at(row), [names.get(c, c) for c in (row.clients or [])],
                        row.sid == current_sid) for row in rows]


def end_one(db: Session, user: User, session_id: int) -> BrowserSession | None:
    """Sign one of the user's browsers out (its refresh tokens revoked); None when not theirs / already out."""
    row = next((r for r in live(db, user) if r.id == session_id), None)
    if row is not None:
        sessions.end(db, row)
    return row


def end_others(db: Session, user: User, current_sid: str) -> int:
    """"Sign out everywhere else": every other live session ends, with the refresh tokens it received."""
    return sessions.end_all(db, user.id, except_sid=current_sid)
