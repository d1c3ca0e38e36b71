"""A limited request's count is committed at once, by an upsert that runs alone (no BEGIN, no COMMIT).

PostgreSQL: on the connection the request then keeps (autocommit), so a request checks out one pooled
connection (one pre-ping) instead of two, the count is visible to every worker while the view still runs, and
no bucket row stays locked. Before, the count's commit gave the connection back to the pool and the view's
first query checked one out again: two checkouts, two pre-pings, a BEGIN and a COMMIT more per limited request.
SQLite: on a pooled connection outside the request's session, before the session begins its transaction, so
a request begins one transaction (one BEGIN IMMEDIATE) instead of two."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from idp.factors import verification
from idp.models import RateLimitBucket
from tests.hardening.helpers import at_the_code_page
from tests.support.browser import Browser
from tests.support.factors import code_at, enrol_totp
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair

EMAIL = "alice@example.com"


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


@pytest.fixture
def postgres_only(is_postgres) -> None:  # noqa: ANN001
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite has no pre-ping and serialises whole transactions")


@pytest.fixture
def sqlite_only(is_postgres) -> None:  # noqa: ANN001
    if is_postgres:
        pytest.skip("SQLite only: PostgreSQL counts on the request's own connection (the tests above)")


@pytest.fixture
def opened(services, is_postgres):  # noqa: ANN001, ANN201
    """What a request pays per count while the test runs: on PostgreSQL each checkout of the pool (each one a
    pre-ping), on SQLite each transaction begun on the engine (each one a BEGIN IMMEDIATE)."""
    seen: list[int] = []

    def note(*_args) -> None:  # noqa: ANN002
        seen.append(1)

    target, event = (services.database.engine.pool, "checkout") if is_postgres else (services.database.engine, "begin")
    sa.event.listen(target, event, note)
    yield seen
    sa.event.remove(target, event, note)


def test_a_code_post_opens_one_connection_or_transaction(app, factory, rp, services, opened,
                                                         frozen_clock):  # noqa: ANN001
    """One pool checkout (PostgreSQL) or one BEGIN IMMEDIATE (SQLite) per code POST, its count included (two
    before); the count is there all the same."""
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    client, fields, _ = at_the_code_page(app, rp, EMAIL)
    opened.clear()
    done = client.post("/login", data={**fields, "code": code_at(secret, frozen_clock)})
    assert done.status_code == 302 and "code=" in done.headers["Location"]
    assert len(opened) == 1
    with services.database.engine.connect() as conn:
        counts = conn.execute(sa.select(RateLimitBucket.count).where(RateLimitBucket.key.like("second_factor:%"))).all()
    assert sorted(count for count, in counts) == [1, 1]     # per address and per account


def _counts_while_a_wrong_code_is_checked(app, services, rp, monkeypatch, *, locked_fails: bool):  # noqa: ANN001, ANN202
    """The second_factor buckets' counts as another connection reads them while a wrong code's POST is held
    inside its view (its count done), and the POST's status. `locked_fails`: the read asks for the rows'
    locks without waiting (PostgreSQL), so it fails at once if the request still holds one; else the read is a
    plain SELECT on a DBAPI connection (SQLite, WAL: no BEGIN IMMEDIATE, so it does not wait for the view's
    write lock and sees only what is committed)."""
    client, fields, _ = at_the_code_page(app, rp, EMAIL)
    paused, go_on = threading.Event(), threading.Event()
    gate = verification.gate

    def slow_gate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        paused.set()                     # the view runs: the request's count is done
        go_on.wait(10)
        return gate(*args, **kwargs)

    monkeypatch.setattr(verification, "gate", slow_gate)
    answer: dict[str, int] = {}
    thread = threading.Thread(target=lambda: answer.update(status=client.post(
        "/login", data={**fields, "code": "000000"}).status_code))
    thread.start()
    try:
        assert paused.wait(10)
        counts = sorted(_locked_counts(services) if locked_fails else _committed_counts(services))
        assert thread.is_alive() and not answer            # read while the view still ran
    finally:
        go_on.set()
        thread.join(30)
    return counts, answer["status"]


def _locked_counts(services) -> list[int]:  # noqa: ANN001
    query = sa.select(RateLimitBucket.count).where(RateLimitBucket.key.like("second_factor:%"))
    with services.database.engine.connect() as conn:
        counts = list(conn.execute(query.with_for_update(nowait=True)).scalars())   # fails at once if locked
        conn.rollback()
    return counts


def _committed_counts(services) -> list[int]:  # noqa: ANN001
    raw = services.database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT count FROM rate_limit_bucket WHERE key LIKE 'second_factor:%'")
        return [count for count, in cursor.fetchall()]
    finally:
        raw.close()


def test_the_count_is_visible_and_unlocked_while_the_view_runs(app, factory, rp, services, postgres_only,
                                                                monkeypatch, frozen_clock):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    counts, status = _counts_while_a_wrong_code_is_checked(app, services, rp, monkeypatch, locked_fails=True)
    assert counts == [1, 1]            # per address and per account, committed
    assert status == 200               # "not correct": the page again


@pytest.fixture
def pooled_in_autocommit(services):  # noqa: ANN001, ANN201
    """For each connection given back to the pool while the test runs: was it still in autocommit?"""
    seen: list[bool] = []

    def note(dbapi_connection, _record) -> None:  # noqa: ANN001
        if dbapi_connection is not None:
            seen.append(dbapi_connection.autocommit)

    sa.event.listen(services.database.engine.pool, "checkin", note)
    yield seen
    sa.event.remove(services.database.engine.pool, "checkin", note)


def test_the_connection_goes_back_to_transactions_when_the_count_fails(
        app, factory, rp, services, postgres_only, pooled_in_autocommit, monkeypatch):  # noqa: ANN001
    """A count that fails after its upsert ran (here: anything raising in the count) answers the request's
    error, and the connection is back out of autocommit for the rest of the request and for the pool."""
    from idp.ratelimit import limiter

    real = limiter.DatabaseBackend._count

    def fails_after(self, db, buckets):  # noqa: ANN001, ANN202
        real(self, db, buckets)
        raise RuntimeError("the count failed after its upsert")

    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    monkeypatch.setattr(limiter.DatabaseBackend, "_count", fails_after)
    app.config["PROPAGATE_EXCEPTIONS"] = False            # as served: the error page, not the exception
    pooled_in_autocommit.clear()
    refused = browser.sign_in(page, EMAIL, PASSWORD)
    assert refused.status == 500
    assert pooled_in_autocommit and not any(pooled_in_autocommit)


def test_a_connection_that_cannot_leave_autocommit_is_invalidated(services, postgres_only):  # noqa: ANN001
    """Never a later statement, or the pool, in autocommit: the switch back failing invalidates the connection."""
    from idp.ratelimit.limiter import _autocommit_off

    class Stuck:                          # a psycopg connection whose switch fails (a query still running)
        closed = False

        @property
        def autocommit(self) -> bool:
            return True

        @autocommit.setter
        def autocommit(self, value: bool) -> None:
            raise sa.exc.InterfaceError("SET", {}, Exception("can't change 'autocommit' now"))

    with services.database.engine.connect() as connection:
        _autocommit_off(connection, Stuck())
        assert connection.invalidated


def test_sqlite_the_count_is_committed_while_the_view_runs(app, factory, rp, services, sqlite_only, monkeypatch,
                                                           frozen_clock):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    counts, status = _counts_while_a_wrong_code_is_checked(app, services, rp, monkeypatch, locked_fails=False)
    assert counts == [1, 1]
    assert status == 200


def test_sqlite_a_count_that_fails_changes_nothing_and_answers_an_error(app, factory, rp, services,
                                                                        sqlite_only):  # noqa: ANN001
    """The lone upsert failing in the driver refuses the request before its view runs (the password is not
    checked, the sign-in does not move on), and its connection is invalidated, not given back to the pool."""
    from idp.models import AttemptCounter, LoginTransaction

    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    engine = services.database.engine
    invalidated: list[int] = []
    sa.event.listen(engine.pool, "invalidate", lambda *_args: invalidated.append(1))
    with engine.begin() as conn:                         # the counters' table gone: "no such table"
        conn.exec_driver_sql("ALTER TABLE rate_limit_bucket RENAME TO rate_limit_bucket_away")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        refused = browser.sign_in(page, EMAIL, PASSWORD)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE rate_limit_bucket_away RENAME TO rate_limit_bucket")
    assert refused.status == 503
    assert "code=" not in (refused.location or "")
    assert invalidated
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(AttemptCounter)) == 0
        assert conn.execute(sa.select(LoginTransaction.user_id)).scalars().all() == [None]


def test_a_count_riding_in_a_transaction_does_not_purge_meanwhile(services, monkeypatch):  # noqa: ANN001
    """The now-and-then purge of ended windows waits for a count that commits: one that rides in a session
    holding changes (and, on SQLite, the write lock) would otherwise have the purge wait for that lock."""
    from datetime import timedelta

    from idp.clock import now
    from idp.models import Organisation
    from idp.ratelimit.limiter import PURGE_EVERY, Bucket, DatabaseBackend

    backend = DatabaseBackend(services.database.engine)
    purged: list[int] = []
    monkeypatch.setattr(backend, "purge", lambda: purged.append(1) or 0)
    bucket = Bucket("test:ride", 0, 60, now() + timedelta(minutes=1))
    backend._calls = PURGE_EVERY - 1                       # the next call that purges at all would purge
    with services.database.sessions() as db:
        db.add(Organisation(slug="riding", name="Riding"))  # a pending change: the count rides along
        assert backend.hit([bucket], db) == [1]
        assert purged == []
        db.rollback()                                      # and the count with it
    with services.database.sessions() as db:
        assert backend.hit([bucket], db) == [1]            # committed at once: now the purge may run
    assert purged == [1]
