"""Rows after the first of a numbered multi-row statement are bound without the column's type."""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from idp.attempts import counters
from idp.models import AttemptCounter, RateLimitBucket
from idp.ratelimit.limiter import Bucket, DatabaseBackend


def test_every_counter_row_stores_the_failure_time(services):
    current = datetime(2026, 12, 7, 5, 0, 0, 123456, tzinfo=UTC)
    keys = {"account": "a" * 64, "address": "b" * 64, "device": "c" * 64}
    with services.database.session() as db:
        counters._upsert(db, "password", "x@example.com", keys, current, right=False)
        db.commit()
    with services.database.session() as db:
        raw = db.connection().exec_driver_sql("SELECT scope, CAST(last_failure_at AS TEXT), CAST(updated_at AS TEXT) FROM attempt_counter ORDER BY key").all()
        print("RAW", raw)
        stored = {r.scope: r.last_failure_at for r in db.scalars(sa.select(AttemptCounter))}
    print("ORM", stored)
    assert stored == {"account": current, "address": current, "device": current}


def test_every_bucket_stores_its_expiry(services):
    expires = datetime(2026, 12, 7, 5, 1, 0, tzinfo=UTC)
    backend = DatabaseBackend(services.database.engine)
    buckets = [Bucket(key=f"k{i}", window_start=1000, seconds=60, expires_at=expires) for i in range(3)]
    backend.hit(buckets)
    with services.database.session() as db:
        stored = {r.key: r.expires_at for r in db.scalars(sa.select(RateLimitBucket))}
    print("BUCKETS", stored)
    assert stored == {"k0": expires, "k1": expires, "k2": expires}
