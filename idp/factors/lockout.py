"""Second-factor lockout across sign-ins: a growing delay, then a doubling lock (NIST SP 800-63B 5.2.2)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp import audit
from idp.audit import Actor
from idp.db import redo_if_rolled_back
from idp.fast_lookup import Lookup
from idp.models import User

if TYPE_CHECKING:
    from idp.services import Services

FREE_TRIES = 2           # wrong codes before any delay (typos happen)
MAX_DELAY_SECONDS = 60


# The second factor's lockout counters of one user, under the row's lock (precompiled: idp.fast_lookup).
_COUNTERS = (User.otp_failures, User.otp_locked_until, User.otp_lock_count)
_COUNTERS_LOCKED = Lookup(sa.select(*_COUNTERS).where(User.id == sa.bindparam("user_id")).with_for_update())


def lock_user_row(db: Session, user: User) -> None:
    """Re-read the user's counters under a row lock, so concurrent code checks of one user run one at a
    time (each sees the lock another just set)."""
    db.flush()
    row = _COUNTERS_LOCKED.first_in(db, user_id=user.id)
    if row is None:
        raise sa.exc.NoResultFound("the user's row is gone")
    for column, value in zip(_COUNTERS, row, strict=True):   # only the counters: no reload of the whole user
        set_committed_value(user, column.key, value)


def is_locked(user: User, now: datetime) -> datetime | None:
    """When the lock ends, if the user's second factor is locked now (a short delay is not a lock)."""
    until = user.otp_locked_until
    if until is not None and until > now and user.otp_failures == 0:
        return until
    return None


def retry_delay(user: User, now: datetime) -> int:
    """Seconds the user must wait before the next code may be checked (0 = now)."""
    until = user.otp_locked_until
    if until is None or until <= now or user.otp_failures == 0:
        return 0
    return max(1, math.ceil((until - now).total_seconds()))


def _delay_seconds(failures: int) -> int:
    return 0 if failures <= FREE_TRIES else min(2 ** (failures - FREE_TRIES), MAX_DELAY_SECONDS)


def lock_minutes(services: "Services", lock_count: int) -> int:
    """The length of the next lock: base × 2^(locks so far), at most the configured maximum."""
    cfg = services.config.lockout
    return min(cfg.base_lock_minutes * 2 ** min(lock_count, 30), cfg.max_lock_minutes)


def record_failure(db: Session, services: "Services", user: User, now: datetime, *,
                   actor: Actor | None = None, method: str | None = None) -> None:
    """Count one wrong second-factor code (row locked, so two workers never lose a count); audited.
    All code methods count together, apart from password failures. The count stands even if `db`'s
    transaction is then rolled back (idp.db.redo_if_rolled_back).

    After `lockout.max_failures` failures the factor is locked for `lock_minutes` and the count restarts."""
    user_id = user.id

    def count(session: Session) -> None:     # `user` itself in `db` (its identity map), a fresh copy in a redo
        _count_failure(session, services, session.get(User, user_id), now, actor=actor, method=method)

    redo_if_rolled_back(db, count)
    count(db)


def _count_failure(db: Session, services: "Services", user: User, now: datetime, *,
                   actor: Actor | None, method: str | None) -> None:
    lock_user_row(db, user)
    who = actor or Actor(name=f"user:{user.email}")
    if is_locked(user, now) is not None:
        # a guess that was checked before another request locked the factor: counted in the audit log,
        # but it never shortens or lifts the lock
        audit.record(db, "second_factor_failure", who, organisation_id=user.organisation_id,
                     target_user_id=user.id, target=user.email, outcome="failure",
                     details={"method": method, "while_locked": True})
        return
    user.otp_failures += 1
    failures = user.otp_failures
    audit.record(db, "second_factor_failure", who, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, outcome="failure", details={"method": method, "failures": failures})
    if failures >= services.config.lockout.max_failures:
        _lock(db, services, user, now, who)
    else:
        delay = _delay_seconds(failures)
        user.otp_locked_until = now + timedelta(seconds=delay) if delay else None
    db.flush()


def _lock(db: Session, services: "Services", user: User, now: datetime, who: Actor) -> None:
    from idp.notices import notify_security_event

    minutes = lock_minutes(services, user.otp_lock_count)
    user.otp_locked_until = now + timedelta(minutes=minutes)
    user.otp_lock_count += 1
    user.otp_failures = 0
    audit.record(db, "second_factor_locked", who, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, outcome="failure",
                 details={"until": user.otp_locked_until.isoformat(), "minutes": minutes,
                          "lock_count": user.otp_lock_count})
    place = ", ".join(filter(None, [f"from {who.ip}" if who.ip else None,
                                    f"in {who.user_agent[:120]}" if who.user_agent else None]))
    notify_security_event(services, user, (
        f"Your second factor was locked until {user.otp_locked_until:%H:%M UTC on %d %B} after too many wrong "
        f"codes were entered; the last one at {now:%H:%M UTC on %d %B}{' ' + place if place else ''}. "
        "Browsers you signed in with before can still sign in with a right code."))


def record_success(user: User) -> None:
    """A right code: the count, any delay and the lock history start over."""
    user.otp_failures = 0
    user.otp_locked_until = None
    user.otp_lock_count = 0


def unlock(user: User) -> None:
    """An administrator lifts the lock (the caller audits who did it)."""
    record_success(user)
