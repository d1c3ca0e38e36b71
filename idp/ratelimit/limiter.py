"""Fixed-window counters shared by every worker and server process.

A check is (rule, scope, value, limit): "at most 20 sign-in attempts per minute for this account". Each
request moves its counters by one in a single atomic statement per counter, and is refused when any of
them went over its limit; `Retry-After` is the time left in the fullest window.

Backends:
- `DatabaseBackend` (default): table `rate_limit_bucket` (key, window_start, count, expires_at), ONE
  multi-row `INSERT ... ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING` for all
  the counters of a request (compiled once per number of rows, run on the DBAPI cursor: idp.fast_lookup)
  (PostgreSQL; SQLite >= 3.35), rows in key order (no deadlocks between two requests that share two keys).
  Given the request's own database session (the web layer does), the statement is the request's first write
  and is committed at once; when nothing ran in the request's transaction yet, it runs alone in autocommit
  (no BEGIN, no COMMIT: on PostgreSQL on the connection the request keeps, on SQLite on a pooled connection
  before the request's session begins); else the session is committed with it. Either way the count is
  visible to every worker at once, survives a request that is rolled back (an error, a SCIM or API error
  answer), and holds no bucket row lock while the view runs (on PostgreSQL one address's requests would
  otherwise queue behind each other's password hashing). A session that already holds changes is not
  committed: the counts then ride in its transaction. Without a session (scripts), a short transaction of its
  own. Expired rows are deleted every few hundred calls.
  `Limiter.count_in` counts in the caller's transaction and never commits (the refresh answered before
  Flask, idp.web.oauth.front_refresh: its counts stand only with its rotation; with Redis it counts with
  `hit` before the rotation instead, once, and Flask answers a fall-through from that verdict).
- `RedisBackend` (`[rate_limit] redis_url`): `SET key 0 EX ttl NX` + `INCR key` in one MULTI/EXEC (the
  window start is part of the key).

Values (IP addresses, email addresses, client ids) are stored only as SHA-256 digests.
Errors of the backend are not swallowed: a limiter that cannot count refuses (fail closed).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.clock import now as clock_now
from idp.fast_lookup import Statement, numbered, numbered_binds, upsert_into
from idp.rate_limit_rules import Limit

log = logging.getLogger("idp.ratelimit")
_IDLE = 0     # psycopg.pq.TransactionStatus.IDLE: no transaction begun on the connection

PURGE_EVERY = 500          # calls of one process between deletions of expired database rows
REDIS_PREFIX = "idp:rl:"


class LimiterUnavailable(Exception):
    """The counters cannot be reached (Redis down): the request must be refused, not let through."""


@dataclass(frozen=True, slots=True)
class Check:
    """One counter to move: `rule` ("login"), `scope` ("ip", "account", "client"), the value and its limit."""

    rule: str
    scope: str
    value: str
    limit: Limit

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.value.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return f"{self.rule}:{self.scope}:{self.limit.seconds}:{digest}"


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    window_start: int       # epoch seconds, a multiple of the window length
    seconds: int            # the window length
    expires_at: datetime    # end of the window (+ a little): the row/key may go after that


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0                  # seconds until the fullest exceeded window ends
    exceeded: tuple[Check, ...] = ()
    counts: tuple[int, ...] = ()          # per check, after this request


class Backend(Protocol):
    def hit(self, buckets: Sequence[Bucket], db: Session | None = None) -> list[int]:
        """Add one to each bucket (the database backend on `db`, the request's session, when given); the new
        counts, in the same order."""

    def problem(self) -> str | None:
        """None when the backend can count, else why not (for /readyz)."""


class DatabaseBackend:
    """Counters in `rate_limit_bucket`, through the application's engine (its own connection)."""

    def __init__(self, engine: sa.Engine) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"rate limits in the database need PostgreSQL or SQLite, not {engine.dialect.name}")
        self.engine = engine
        self._calls = 0
        self._lock = threading.Lock()

    def hit(self, buckets: Sequence[Bucket], db: Session | None = None) -> list[int]:
        if db is not None and (db.new or db.dirty or db.deleted):
            # the counts ride in the session's transaction; no purge now (on SQLite it would wait for the lock
            # this session holds)
            return self._count(db, buckets)
        if db is None:
            with Session(self.engine) as own, own.begin():
                counts = self._count(own, buckets)
        else:
            counts = self._count_committed(db, buckets)
        self.maybe_purge()
        return counts

    def _count_committed(self, db: Session, buckets: Sequence[Bucket]) -> list[int]:
        """Count for `db`'s request, committed at once. When nothing has run in the session's transaction yet,
        the upsert runs alone in autocommit: on PostgreSQL on the session's connection (no BEGIN, no COMMIT, and
        the session keeps the connection, so no second checkout and pre-ping for the rest of the request); on
        SQLite on a pooled connection outside the session, as its own transaction (no BEGIN IMMEDIATE and COMMIT,
        no session transaction begun and ended; the session holds no connection, so no write lock of its own to
        wait for). Else on `db`'s connection, and `db` is committed."""
        if not db.in_transaction() and self.engine.dialect.name == "sqlite":
            return self._count(None, buckets)     # the upsert alone: its own transaction
        connection = db.connection()
        driver = connection.connection.driver_connection
        if connection.dialect.driver == "psycopg" and driver.info.transaction_status == _IDLE:
            try:
                driver.autocommit = True
                return self._count(db, buckets)
            finally:
                _autocommit_off(connection, driver)
        counts = self._count(db, buckets)
        db.commit()
        return counts

    def count_in(self, db: Session, buckets: Sequence[Bucket]) -> list[int]:
        """Add one to each bucket in `db`'s transaction, uncommitted: the caller commits the counts with its
        own changes or rolls them back with them (then call maybe_purge after the commit, never before)."""
        return self._count(db, buckets)

    def _count(self, db: Session | None, buckets: Sequence[Bucket]) -> list[int]:
        """One multi-row upsert (idp.fast_lookup: compiled once per number of rows), rows in key order; in `db`'s
        transaction, or (None) alone on a pooled connection, committed when it returns."""
        ordered = sorted({(b.key, b.window_start): b for b in buckets}.values(), key=lambda b: (b.key, b.window_start))
        params = numbered({"key": b.key, "window_start": b.window_start, "expires_at": b.expires_at} for b in ordered)
        # a Statement leaves the session's pending changes pending: `hit` commits only a session that holds none
        upsert = _bucket_upsert(self.engine.dialect.name, len(ordered))
        rows = upsert.rows(self.engine, **params) if db is None else upsert.rows_in(db, **params)
        counts = {(row.key, row.window_start): row.count for row in rows}
        return [counts[(b.key, b.window_start)] for b in buckets]

    def maybe_purge(self) -> None:
        """Every PURGE_EVERY calls, delete the rows of ended windows (its own transaction). Housekeeping only:
        a failure is logged and never fails the request (which may have committed already, e.g. a rotated
        refresh token whose answer must still be sent); the next purge takes the rows."""
        with self._lock:
            self._calls += 1
            if self._calls % PURGE_EVERY:
                return
        try:
            self.purge()
        except Exception as exc:  # noqa: BLE001 - e.g. pool timeout, SQLite busy: housekeeping can wait
            log.warning("rate-limit purge failed, left for the next one: %s", type(exc).__name__)

    def purge(self) -> int:
        """Delete the rows of windows that ended; the number deleted."""
        from idp.models import RateLimitBucket

        with self.engine.begin() as conn:
            return conn.execute(sa.delete(RateLimitBucket).where(RateLimitBucket.expires_at < clock_now())).rowcount

    def problem(self) -> str | None:
        return None  # the database itself is checked by /readyz


def _autocommit_off(connection: sa.Connection, driver: Any) -> None:  # driver: a psycopg connection
    """Transactions again on the request's connection; one that cannot be switched back (a query still running
    after an interrupt) is invalidated, so that it never runs a later statement, or goes back to the pool, in
    autocommit. An error of the switch never hides the count's own."""
    if driver.closed:             # invalidated already (a dropped connection)
        return
    try:
        driver.autocommit = False
    except Exception:  # noqa: BLE001 - the invalidation is the answer; the request then fails on its next query
        connection.invalidate()
    except BaseException:
        connection.invalidate()
        raise


@functools.cache
def _bucket_upsert(dialect: str, rows: int) -> Statement:
    """INSERT `rows` buckets (parameters key_rN, window_start_rN, expires_at_rN) with count 1, or add one to the
    existing rows' counts; RETURNING each row's key, window_start and count (made once per number of rows)."""
    from idp.models import RateLimitBucket

    table = RateLimitBucket.__table__
    values = [{**binds, "count": 1} for binds in numbered_binds(table, ("key", "window_start", "expires_at"), rows)]
    return Statement(upsert_into(dialect, table).values(values)
                     .on_conflict_do_update(index_elements=[table.c.key, table.c.window_start],
                                            set_={"count": table.c.count + 1})
                     .returning(table.c.key, table.c.window_start, table.c.count))


class RedisBackend:
    """Counters in Redis (`[rate_limit] redis_url`); short timeouts so a dead Redis fails fast."""

    def __init__(self, url: str, timeout: float = 1.0) -> None:
        import redis

        self._errors = (redis.exceptions.RedisError, OSError)
        self.prefix = REDIS_PREFIX
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def hit(self, buckets: Sequence[Bucket], db: Session | None = None) -> list[int]:  # noqa: ARG002
        try:
            pipe = self.client.pipeline(transaction=True)
            for bucket in buckets:
                name = f"{self.prefix}{bucket.key}:{bucket.window_start}"
                # the window's key is never reused (its start is in the name): keeping it a window longer
                # than needed makes the count immune to clock differences between servers and Redis
                pipe.set(name, 0, ex=bucket.seconds + 60, nx=True)
                pipe.incr(name)
            results = pipe.execute()
        except self._errors as exc:
            raise LimiterUnavailable(f"Redis: {type(exc).__name__}") from exc
        return [int(value) for value in results[1::2]]

    def problem(self) -> str | None:
        try:
            self.client.ping()
        except self._errors as exc:
            return f"rate-limit Redis unreachable ({type(exc).__name__})"
        return None


class Limiter:
    """Moves the counters of a request's checks and says whether it may go on."""

    def __init__(self, backend: Backend, clock: Callable[[], datetime] = clock_now) -> None:
        self.backend = backend
        self.clock = clock

    def hit(self, checks: Sequence[Check], db: Session | None = None) -> Verdict:
        """Count this request under each check (see `DatabaseBackend` for `db`, the request's session)."""
        if not checks:
            return Verdict(True)
        epoch = self.clock().astimezone(UTC).timestamp()
        buckets = self._buckets(checks, epoch)
        return self._verdict(checks, buckets, self.backend.hit(buckets, db), epoch)

    @property
    def counts_in_transactions(self) -> bool:
        """Can count_in share a caller's transaction (the database backend; Redis cannot roll back)?"""
        return isinstance(self.backend, DatabaseBackend)

    def count_in(self, checks: Sequence[Check], db: Session) -> Verdict:
        """hit, in `db`'s transaction and uncommitted (DatabaseBackend.count_in): refused or not, the counts
        stand only if the caller commits; after a commit, call `after_commit`."""
        if not isinstance(self.backend, DatabaseBackend):
            raise TypeError("only the database backend counts in a caller's transaction")
        if not checks:
            return Verdict(True)
        epoch = self.clock().astimezone(UTC).timestamp()
        buckets = self._buckets(checks, epoch)
        return self._verdict(checks, buckets, self.backend.count_in(db, buckets), epoch)

    def after_commit(self) -> None:
        """What `hit` does after counting: now and then, delete expired rows."""
        if isinstance(self.backend, DatabaseBackend):
            self.backend.maybe_purge()

    @staticmethod
    def _buckets(checks: Sequence[Check], epoch: float) -> list[Bucket]:
        buckets = []
        for check in checks:
            start = int(epoch // check.limit.seconds) * check.limit.seconds
            end = datetime.fromtimestamp(start + check.limit.seconds, tz=UTC)
            buckets.append(Bucket(check.key, start, check.limit.seconds, end + timedelta(seconds=1)))
        return buckets

    @staticmethod
    def _verdict(checks: Sequence[Check], buckets: Sequence[Bucket], counts: Sequence[int], epoch: float) -> Verdict:
        exceeded = tuple(c for c, n in zip(checks, counts, strict=True) if n > c.limit.count)
        if not exceeded:
            return Verdict(True, counts=tuple(counts))
        retry = max(b.window_start + c.limit.seconds - epoch
                    for c, b, n in zip(checks, buckets, counts, strict=True) if n > c.limit.count)
        return Verdict(False, retry_after=max(1, math.ceil(retry)), exceeded=exceeded, counts=tuple(counts))


def build_limiter(database_engine: sa.Engine, redis_url: str) -> Limiter:
    """Redis when a URL is configured, else the database."""
    backend: Backend = RedisBackend(redis_url) if redis_url else DatabaseBackend(database_engine)
    return Limiter(backend)
