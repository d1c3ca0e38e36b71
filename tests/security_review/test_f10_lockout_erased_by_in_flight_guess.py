"""Security review F-10 (fixed): a wrong code that was already in flight must not erase the second-factor
lock. Code checks of one user now take the user's row lock first (serialised across workers), and a failure
recorded while the factor is locked never shortens or lifts the lock.

The first test drives the lockout state machine directly (what an in-flight request's record_failure does);
the second sends two wrong codes at the same moment over HTTP (PostgreSQL only)."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from idp.audit import Actor
from idp.factors import lockout
from idp.models import User


def test_a_failure_recorded_after_the_lock_does_not_lift_it(factory, services, frozen_clock):
    factory.user("alice@example.com")
    now = frozen_clock.current
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == "alice@example.com"))
        for _ in range(services.config.lockout.max_failures):
            lockout.record_failure(db, services, user, now, actor=Actor("t"), method="totp")
        assert lockout.is_locked(user, now) is not None                    # locked for 15 minutes
        # a wrong code whose request passed `sf.locked` before the lock was set is recorded now
        lockout.record_failure(db, services, user, now, actor=Actor("t"), method="totp")
        # The secure behaviour: still locked (and no shorter delay replaces the lock).
        assert lockout.is_locked(user, now) is not None, \
            f"lock erased: failures={user.otp_failures} locked_until={user.otp_locked_until}"


# --- the same through HTTP: two wrong codes in flight at once (PostgreSQL: real row locks) ------------------
from tests.support.browser import Browser  # noqa: E402
from tests.support.factors import EMAIL, enrol_totp, rp, start  # noqa: E402,F401


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"lockout": {"max_failures": 3, "base_lock_minutes": 15}, "rate_limit": {"enabled": False}}


def test_two_concurrent_wrong_codes_leave_the_factor_locked(app, factory, rp, services, frozen_clock,  # noqa: F811
                                                            is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL (IDP_TEST_DATABASE_URL): SQLite serialises whole requests")
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    with services.database.session() as db:                # two wrong codes already counted (no delay yet)
        db.scalar(sa.select(User).where(User.email == EMAIL)).otp_failures = 2
    pages = []
    browsers = [Browser(client=app.test_client()) for _ in range(2)]
    for b in browsers:                                       # two sign-ins (two login transactions) at the code
        page, _ = start(b, rp)
        assert 'name="code"' in page.text
        pages.append(page)

    barrier = threading.Barrier(2, timeout=10)

    def guess(b: Browser, page) -> None:  # noqa: ANN001  both wrong codes are sent at the same moment
        barrier.wait()
        b.submit(page, "code", {"code": "000000"})

    threads = [threading.Thread(target=guess, args=(b, p)) for b, p in zip(browsers, pages, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        state = (user.otp_failures, user.otp_locked_until, user.otp_lock_count)
        locked = lockout.is_locked(user, frozen_clock.current)
    # The secure behaviour: the third wrong code locked the factor, and it stays locked.
    assert locked is not None, f"lock erased by the concurrent wrong code: failures/until/locks={state}"
