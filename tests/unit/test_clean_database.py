"""The PostgreSQL test database's cleaner (tests/support/databases.py) when a transaction of the previous test
is still running: it waits for it, and when that transaction then asks for a table the cleaner has already
locked (a deadlock PostgreSQL ends by failing the cleaner), it tries again instead of failing the next test."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from idp.models import Base



def test_a_straggler_that_deadlocks_with_the_cleaner_does_not_fail_the_next_test(pg_database, seed_rows):  # noqa: ANN001
    if pg_database is None:
        pytest.skip("the cleaner of the PostgreSQL test database: needs the server")
    first, last = Base.metadata.sorted_tables[0].name, Base.metadata.sorted_tables[-1].name
    straggler = sa.create_engine(pg_database.url, poolclass=sa.pool.NullPool)
    outcome: list[str] = []
    try:
        with straggler.connect() as connection:
            connection.exec_driver_sql(f'LOCK TABLE "{last}" IN ROW EXCLUSIVE MODE')   # holds what the cleaner locks last
            cleaning = threading.Thread(target=lambda: outcome.append(_cleaned(pg_database, seed_rows)))
            cleaning.start()
            _wait_until_waiting(pg_database)                                           # the cleaner queued on it
            connection.exec_driver_sql(f'LOCK TABLE "{first}" IN ROW EXCLUSIVE MODE')  # wants what it locked first
            connection.commit()
            cleaning.join(30)
    finally:
        straggler.dispose()
    assert outcome == ["cleaned"]


def _cleaned(pg_database, seed_rows) -> str:  # noqa: ANN001
    try:
        pg_database.clean(seed_rows)
    except sa.exc.DBAPIError as exc:
        return f"failed: {type(exc.orig).__name__}"
    return "cleaned"


def _wait_until_waiting(pg_database) -> None:  # noqa: ANN001
    """Until a session of the test database waits for a lock (the cleaner's LOCK TABLE)."""
    observer = sa.create_engine(pg_database.url, poolclass=sa.pool.NullPool)
    try:
        with observer.connect() as connection:
            for _ in range(500):
                waiting = connection.scalar(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"))
                if waiting:
                    return
                connection.exec_driver_sql("SELECT pg_sleep(0.01)")
    finally:
        observer.dispose()
    raise AssertionError("the cleaner never waited for the lock")
