"""Purge what has expired: login transactions, authorization codes, email/SMS codes, WebAuthn challenges,
used nonces (`jti`), tokens (the administration API's client credentials tokens too) and rate-limit counters.

Rows are kept `retention` past their expiry (replay and reuse detection, investigations), then deleted.
`run_if_due` runs the purge at most once per interval in the whole deployment: a process runs it only
after it claimed the `maintenance_lease` row with `UPDATE ... WHERE last_run_at < now - interval`
(rowcount 1 wins; the first run inserts the row, and only one insert can succeed). No Flask here."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.clock import now as clock_now
from idp.models import (
    AuthorizationCode,
    LoginTransaction,
    MaintenanceLease,
    OtpChallenge,
    RateLimitBucket,
    Token,
    UsedNonce,
    WebAuthnChallenge,
)
from idp.models.client import ClientAccessToken

log = logging.getLogger("idp.purge")

LEASE = "purge"


def _statements(cutoff: datetime, now: datetime) -> dict[str, sa.Delete]:
    """What goes, by table: everything whose expiry is older than `cutoff` (rate-limit counters at once)."""
    return {
        "login_transaction": sa.delete(LoginTransaction).where(LoginTransaction.expires_at < cutoff),
        "authorization_code": sa.delete(AuthorizationCode).where(AuthorizationCode.expires_at < cutoff),
        "otp_challenge": sa.delete(OtpChallenge).where(OtpChallenge.expires_at < cutoff),
        "webauthn_challenge": sa.delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < cutoff),
        "used_nonce": sa.delete(UsedNonce).where(UsedNonce.expires_at < cutoff),
        "oauth_token": sa.delete(Token).where(
            Token.access_expires_at < cutoff,
            sa.or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < cutoff)),
        "client_access_token": sa.delete(ClientAccessToken).where(ClientAccessToken.expires_at < cutoff),
        "rate_limit_bucket": sa.delete(RateLimitBucket).where(RateLimitBucket.expires_at < now),
    }


def purge_expired(db: Session, retention: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Delete the expired rows (in the caller's transaction); the number deleted per table."""
    current = now or clock_now()
    statements = _statements(current - retention, current)
    return {table: db.execute(statement, execution_options={"synchronize_session": False}).rowcount
            for table, statement in statements.items()}


def claim(engine: sa.Engine, interval: timedelta, now: datetime | None = None) -> bool:
    """True for exactly one caller per interval across every process: this one may run the purge now."""
    current = now or clock_now()
    table = MaintenanceLease.__table__
    with engine.begin() as conn:
        moved = conn.execute(sa.update(table).where(table.c.name == LEASE,
                                                    table.c.last_run_at <= current - interval)
                             .values(last_run_at=current)).rowcount
        if moved == 1:
            return True
        if conn.execute(sa.select(table.c.name).where(table.c.name == LEASE)).first() is not None:
            return False
    try:  # the very first run: one insert wins, the others meet the primary key
        with engine.begin() as conn:
            conn.execute(sa.insert(table).values(name=LEASE, last_run_at=current))
    except IntegrityError:
        return False
    return True


@dataclass
class PurgeSchedule:
    """Runs the purge when it is due. Each process asks the database at most once per `check_every`
    (a local hint only: the lease row decides), so requests do not all pay for the check."""

    engine: sa.Engine
    interval: timedelta
    retention: timedelta
    check_every: float = 60.0
    _next_check: float = field(default=0.0, repr=False)

    def due_here(self) -> bool:
        return time.monotonic() >= self._next_check

    def run_if_due(self) -> dict[str, int] | None:
        """The counts when this process ran the purge, None when it was not due or another process ran it."""
        if not self.due_here():
            return None
        self._next_check = time.monotonic() + min(self.check_every, self.interval.total_seconds())
        try:
            if not claim(self.engine, self.interval):
                return None
            with Session(self.engine) as db, db.begin():
                counts = purge_expired(db, self.retention)
        except sa.exc.SQLAlchemyError as exc:   # never breaks a request; the next interval tries again
            log.warning("purge of expired rows failed: %s", exc.__class__.__name__)
            return None
        log.info("purged expired rows: %s", ", ".join(f"{k}={v}" for k, v in counts.items() if v) or "none")
        return counts
