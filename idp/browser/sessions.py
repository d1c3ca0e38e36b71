"""Browser sessions: who is signed in in which browser, revocable from any worker.

A session is live until it ends (sign-out), reaches its absolute limit (`expires_at`, [login]
session_ttl_hours after sign-in) or goes unused for its idle limit (`idle_minutes`, [login]
session_idle_minutes when it was created). `active()` is the one place that decides, and every use of a
live session through it counts as activity (`last_seen_at`, written at most once a minute)."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import backchannel
from idp.clock import now
from idp.models import BrowserSession, Token, User
from idp.oauth.tokens import revoke_tokens
from idp.security.secrets import new_token

ACTIVITY_RESOLUTION = timedelta(minutes=1)   # last_seen_at is written at most this often


def create(db: Session, user: User, *, amr: list[str], acr: str | None, ttl_hours: int,
           ip: str | None = None, user_agent: str | None = None, provider: str | None = None,
           idle_minutes: int = 30, remembered_browser_id: int | None = None) -> BrowserSession:
    """A new session with a new `sid` (the browser's session id is rotated at every sign-in), inserted at
    the next flush (a sign-in's with the application it is noted for: idp.signin.completion).
    `remembered_browser_id`: the remembered browser that let this sign-in skip the second factor."""
    current = now()
    row = BrowserSession(sid=new_token(24), public_sid=new_token(24), user_id=user.id, user=user, auth_time=current,
                         amr=list(amr), acr=acr, provider=provider, clients=[], ip=ip,
                         user_agent=(user_agent or "")[:400] or None, remembered_browser_id=remembered_browser_id,
                         created_at=current, last_seen_at=current, idle_minutes=idle_minutes,
                         expires_at=current + timedelta(hours=ttl_hours))
    db.add(row)
    return row


def active(db: Session, sid: str | None) -> BrowserSession | None:
    """The live session for sid (not ended, not expired, not idle too long, user still active), or None.
    Finding it counts as its use: the activity time moves on (written at most once a minute)."""
    if not sid:
        return None
    row = db.scalar(sa.select(BrowserSession).where(BrowserSession.sid == sid))
    current = now()
    if row is None or row.ended_at is not None or row.expires_at <= current or not row.user.is_active:
        return None
    if idle_expires_at(row) <= current:
        return None
    if current - row.last_seen_at >= ACTIVITY_RESOLUTION:
        row.last_seen_at = current
    return row


def unended(db: Session, sid: str | None) -> BrowserSession | None:
    """The session for sid while nobody ended it, even when idle or past its limit (not usable: see
    `active`): what signing out ends, so that the refresh tokens it received are revoked all the same."""
    if not sid:
        return None
    return db.scalar(sa.select(BrowserSession).where(BrowserSession.sid == sid, BrowserSession.ended_at.is_(None)))


def idle_expires_at(row: BrowserSession) -> datetime:
    """When the session ends unless it is used before (never after its absolute limit)."""
    return min(row.last_seen_at + timedelta(minutes=row.idle_minutes), row.expires_at)


def note_client(row: BrowserSession, client_id: str) -> None:
    if client_id not in row.clients:
        row.clients = [*row.clients, client_id]


def end(db: Session, row: BrowserSession, *, revoke_refresh: bool = True) -> None:
    """Sign this browser out; the refresh tokens it received stop working, and every application it signed
    in to that registered a back-channel logout URI is told (queued in this transaction: idp.backchannel).
    `revoke_refresh=False` (the same person signing in again in this browser): the sign-in goes on under a
    new session, so neither the tokens nor the applications' sessions end."""
    row.ended_at = now()
    if revoke_refresh:
        revoke_tokens(db, Token.sid == row.sid)
        backchannel.session_ended(db, row)


def end_all(db: Session, user_id: int, *, except_sid: str | None = None) -> int:
    """Sign the user out everywhere (but `except_sid`), revoking every refresh token. The session kept
    (where the change was made) is marked `kept_at`: its sign-in counts as proven again from now on."""
    query = sa.select(BrowserSession).where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
    ended = 0
    for row in db.scalars(query):
        if row.sid != except_sid:
            end(db, row)
            ended += 1
        else:
            row.kept_at = now()
    if except_sid is None:
        revoke_tokens(db, Token.user_id == user_id)
    return ended


def rotate(db: Session, row: BrowserSession) -> BrowserSession:
    """A privilege change (2FA added or removed, a fresh proof): the same sign-in continues under a new `sid`,
    and the old one stops working (a copied cookie of before the change is useless). Tokens move along."""
    new = BrowserSession(
        sid=new_token(24), public_sid=row.public_sid, user_id=row.user_id, auth_time=row.auth_time, amr=list(row.amr or []), acr=row.acr,
        provider=row.provider, clients=list(row.clients or []), ip=row.ip, user_agent=row.user_agent,
        created_at=now(), last_seen_at=now(), idle_minutes=row.idle_minutes, expires_at=row.expires_at,
        step_up_at=row.step_up_at, email_checked_at=row.email_checked_at,
        remembered_browser_id=row.remembered_browser_id, kept_at=row.kept_at)
    db.add(new)
    row.ended_at = now()
    db.flush()
    db.execute(sa.update(Token).where(Token.sid == row.sid).values(sid=new.sid)
               .execution_options(synchronize_session=False))
    return new
