"""PostgreSQL lock waits, for the tests that pause one request while another runs into its row locks."""
from __future__ import annotations

import time

import sqlalchemy as sa


def someone_waits_for_a_lock(engine: sa.Engine) -> bool:
    """Whether a session of this test's database is waiting for a lock now."""
    with engine.connect() as connection:
        return bool(connection.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")))


def until_someone_waits(engine: sa.Engine, seconds: float = 10) -> bool:
    """Wait (at most `seconds`) until a session waits for a lock; whether one does."""
    deadline = time.monotonic() + seconds
    while not someone_waits_for_a_lock(engine):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
