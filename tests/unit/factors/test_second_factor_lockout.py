"""idp.factors.lockout: a growing delay after a few wrong codes, then a lock that doubles up to a cap;
audited; a right code or an administrator's unlock starts over."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.factors import lockout
from idp.models import AuditEvent
from idp.outbox.worker import drain
from tests.support.smtp import email_config, smtp  # noqa: F401 (fixture)


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp),
            "lockout": {"max_failures": 6, "base_lock_minutes": 15, "max_lock_minutes": 40}}


def events(db, name: str) -> list[AuditEvent]:  # noqa: ANN001
    return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


def fail(db, services, user, frozen_clock, times: int = 1) -> None:  # noqa: ANN001
    for _ in range(times):
        lockout.record_failure(db, services, user, frozen_clock.current, method="totp")
        frozen_clock.advance(seconds=lockout.retry_delay(user, frozen_clock.current))


def test_delay_grows_after_the_free_tries(db, services, user, frozen_clock):  # noqa: ANN001
    delays = []
    for _ in range(5):
        lockout.record_failure(db, services, user, frozen_clock.current, method="totp")
        delays.append(lockout.retry_delay(user, frozen_clock.current))
        assert lockout.is_locked(user, frozen_clock.current) is None     # a delay is not a lock
        frozen_clock.advance(seconds=delays[-1])
    assert delays == [0, 0, 2, 4, 8]
    assert [e.details for e in events(db, "second_factor_failure")] == [
        {"method": "totp", "failures": n} for n in range(1, 6)]


def test_lock_after_max_failures_doubles_and_is_capped(db, services, user, frozen_clock, smtp):  # noqa: ANN001, F811
    fail(db, services, user, frozen_clock, 6)
    until = lockout.is_locked(user, frozen_clock.current)
    assert until == frozen_clock.current + timedelta(minutes=15) and user.otp_failures == 0
    db.commit()                  # the notice was queued in this transaction (idp.outbox); a worker sends it
    assert drain(services).sent == 1 and smtp.wait_for("alice@example.com", "security notice")
    frozen_clock.set(until)
    assert lockout.is_locked(user, frozen_clock.current) is None
    fail(db, services, user, frozen_clock, 6)
    assert lockout.is_locked(user, frozen_clock.current) == frozen_clock.current + timedelta(minutes=30)
    frozen_clock.advance(minutes=30)
    fail(db, services, user, frozen_clock, 6)
    assert lockout.is_locked(user, frozen_clock.current) == frozen_clock.current + timedelta(minutes=40)
    assert [e.details["minutes"] for e in events(db, "second_factor_locked")] == [15, 30, 40]
    assert [e.details["lock_count"] for e in events(db, "second_factor_locked")] == [1, 2, 3]
    assert all(e.outcome == "failure" and e.target == "alice@example.com" for e in events(db, "second_factor_locked"))


def test_success_and_unlock_start_over(db, services, user, frozen_clock):  # noqa: ANN001
    fail(db, services, user, frozen_clock, 4)
    lockout.record_success(user)
    assert (user.otp_failures, user.otp_locked_until, user.otp_lock_count) == (0, None, 0)
    fail(db, services, user, frozen_clock, 6)
    assert lockout.is_locked(user, frozen_clock.current)
    lockout.unlock(user)
    assert lockout.is_locked(user, frozen_clock.current) is None and user.otp_lock_count == 0


def test_lock_length_formula(services):  # noqa: ANN001
    assert [lockout.lock_minutes(services, n) for n in range(4)] == [15, 30, 40, 40]
    assert lockout.lock_minutes(services, 500) == 40


def test_lock_end_in_words():
    from datetime import UTC, datetime

    from idp.factors.verification import until_text
    evening = datetime(2030, 3, 2, 23, 50, tzinfo=UTC)
    assert until_text(evening + timedelta(minutes=5), evening) == "23:55 UTC"
    assert until_text(evening + timedelta(minutes=15), evening) == "00:05 UTC on 3 March"
