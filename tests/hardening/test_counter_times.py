"""Every row of a multi-row counter write (rate-limit buckets, attempt counters: one statement for all of a
request's rows, idp.fast_lookup) stores the very instant it was given, in the column's own format, whatever
the database session's time zone. (Rows after the first were once sent without their column's type: a
PostgreSQL session west of UTC stored them hours early, which let a guesser skip the account's wait.)"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.attempts import counters
from idp.models import AttemptCounter, RateLimitBucket
from idp.ratelimit.limiter import Bucket, DatabaseBackend

AT = datetime(2026, 12, 7, 5, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def engine(services):  # noqa: ANN001, ANN201
    """The test database, through a session whose time zone is not UTC (PostgreSQL)."""
    if services.database.is_sqlite:
        yield services.database.engine
        return
    west = sa.create_engine(services.database.engine.url, connect_args={"options": "-c timezone=America/Los_Angeles"})
    yield west
    west.dispose()


def _raw_text(services, column: sa.Column) -> set[str]:  # noqa: ANN001
    with services.database.engine.connect() as conn:
        return set(conn.execute(sa.select(sa.cast(column, sa.String))).scalars())


def test_every_bucket_of_one_request_stores_its_window_end(engine, services):
    DatabaseBackend(engine).hit([Bucket(key=f"k{i}", window_start=1000, seconds=60, expires_at=AT) for i in range(3)])
    with services.database.session() as db:
        assert {row.key: row.expires_at for row in db.scalars(sa.select(RateLimitBucket))} == {
            "k0": AT, "k1": AT, "k2": AT}
    assert len(_raw_text(services, RateLimitBucket.expires_at)) == 1


def test_every_counter_of_one_try_stores_the_failure_time(engine, services):
    keys = {"account": "a" * 64, "address": "b" * 64, "device": "c" * 64}
    with Session(engine) as db:
        counters._upsert(db, "password", "victim@example.com", keys, AT, right=False)  # noqa: SLF001
        db.commit()
    with services.database.session() as db:
        stored = {row.scope: (row.last_failure_at, row.updated_at) for row in db.scalars(sa.select(AttemptCounter))}
    assert stored == {"account": (AT, AT), "address": (AT, AT), "device": (AT, AT)}
    assert len(_raw_text(services, AttemptCounter.last_failure_at)) == 1


def test_an_account_past_its_free_failures_makes_a_stranger_wait(engine, services):
    """The wait holds for an untrusted client elsewhere, whichever counter comes first in key order."""
    limits = counters.limits(services.config, "password")
    for n in range(6):                     # different accounts: the account counter's place in key order varies
        account = f"victim{n}@example.com"
        with Session(engine) as db:
            for _ in range(limits.free_failures + 1):
                counters.record_failure(db, services, "password", account, counters.Client(address="203.0.113.7"))
            db.commit()
        with Session(engine) as db:
            verdict = counters.check(db, services, "password", account, counters.Client(address=f"198.51.100.{n}"))
            db.rollback()
        assert not verdict.allowed, account
