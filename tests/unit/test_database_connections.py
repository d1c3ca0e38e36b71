"""PostgreSQL connections as idp.db makes them: a connect timeout, no GSSAPI (Kerberos) encryption attempt
unless the database URL asks for one (libpq's default would initialise Kerberos for every connection), and
checked when taken from the pool with a round trip only when one may be stale (idp.pool_liveness)."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import fast_lookup, pool_liveness
from idp.config import DatabaseConfig
from idp.db import create_engine
from tests.support.databases import postgres_base_url
from tests.support.silent_failover import SilentFailoverProxy

pytestmark = pytest.mark.skipif(postgres_base_url() is None, reason="PostgreSQL connections: needs the server")


def _options(url: str) -> dict[bytes, bytes | None]:
    engine = create_engine(DatabaseConfig(url=url))
    try:
        connection = engine.raw_connection()
        try:
            return {option.keyword: option.val for option in connection.driver_connection.pgconn.info}
        finally:
            connection.close()
    finally:
        engine.dispose()


def test_connections_time_out_and_do_not_try_kerberos():
    options = _options(postgres_base_url())
    assert (options[b"connect_timeout"], options[b"gssencmode"]) == (b"5", b"disable")


def test_a_url_that_asks_for_gssapi_encryption_gets_it_tried():
    url = sa.make_url(postgres_base_url()).update_query_dict({"gssencmode": "prefer"})
    options = _options(url.render_as_string(hide_password=False))
    assert options[b"gssencmode"] == b"prefer"


# --- checked at checkout (idp.pool_liveness) ---------------------------------------------------------------

@pytest.fixture
def engine():  # noqa: ANN201
    made = create_engine(DatabaseConfig(url=postgres_base_url()))
    yield made
    made.dispose()


@pytest.fixture
def pings(engine, monkeypatch) -> list[int]:  # noqa: ANN001
    """The pings (the dialect's `SELECT 1`) sent at checkout, one entry each."""
    sent: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection) -> bool:  # noqa: ANN001
        sent.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT pg_backend_pid()"))


def _terminate(pid: int) -> None:
    """End the server process of another connection, as a restart or failover would, and wait until it is gone."""
    admin = sa.create_engine(postgres_base_url(), poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as connection:
            assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(200):
                if not connection.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                         {"pid": pid}):
                    return
                time.sleep(0.01)
    finally:
        admin.dispose()
    raise AssertionError(f"server process {pid} did not end")


def test_a_connection_taken_again_at_once_costs_no_round_trip(engine, pings):  # noqa: ANN001
    first = _backend_pid(engine)
    assert [_backend_pid(engine) for _ in range(3)] == [first] * 3     # the same pooled connection
    assert pings == []


def test_a_connection_that_rested_longer_is_pinged(engine, pings, monkeypatch):  # noqa: ANN001
    first = _backend_pid(engine)
    monkeypatch.setattr(pool_liveness, "RECENT_SECONDS", 0.0)
    assert _backend_pid(engine) == first and pings == [1]


def test_a_connection_the_server_ended_is_replaced_without_failing_the_request(engine, pings):  # noqa: ANN001
    """Taken moments after the server ended it: its socket says so, the ping fails, and a new connection answers."""
    first = _backend_pid(engine)
    _terminate(first)
    second = _backend_pid(engine)                                      # no error
    assert second != first and pings == [1]
    assert _backend_pid(engine) == second and pings == [1]             # and the new one is taken as it is


@pytest.fixture
def behind_proxy():  # noqa: ANN201
    """An engine whose connections go through a proxy that can fail over silently, and the proxy."""
    url = sa.make_url(postgres_base_url())
    proxy = SilentFailoverProxy((url.host or "127.0.0.1", url.port or 5432))
    made = create_engine(DatabaseConfig(url=url.set(host="127.0.0.1", port=proxy.port)
                                        .render_as_string(hide_password=False)))
    yield made, proxy
    made.dispose()
    proxy.close()


def _through_sqlalchemy(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        connection.scalar(sa.text("SELECT 1"))


def _through_fast_lookup(engine: sa.Engine) -> None:
    fast_lookup._fetch_one(engine, "SELECT 1", {})  # noqa: SLF001 - the raw-connection path itself


_ONE = fast_lookup.Lookup(sa.select(sa.literal(1).label("one")))


def _through_a_precompiled_lookup(engine: sa.Engine) -> None:
    with Session(engine) as session:
        _ONE.first_in(session)


def _requests_after_a_silent_failover(engine: sa.Engine, proxy: SilentFailoverProxy, request, *,  # noqa: ANN001
                                      rest: float = 0.0) -> list[str]:
    held = [engine.connect() for _ in range(3)]          # three pooled connections, all used just now
    for connection in held:
        connection.scalar(sa.text("SELECT 1"))
        connection.close()
    time.sleep(rest)
    proxy.fail_over()
    outcomes = []
    for _ in range(4):
        try:
            request(engine)
            outcomes.append("ok")
        except sa.exc.DBAPIError as exc:
            assert exc.connection_invalidated
            outcomes.append("failed")
    return outcomes


@pytest.mark.parametrize("request_path", [_through_sqlalchemy, _through_fast_lookup, _through_a_precompiled_lookup])
def test_a_silent_failover_under_load_fails_one_request_not_one_per_connection(behind_proxy, request_path):  # noqa: ANN001
    """Connections used moments ago are not pinged, so the first request after a failover that left their
    sockets open fails; that failure replaces every older pooled connection, for fast_lookup's raw connections
    as for SQLAlchemy's own execution."""
    engine, proxy = behind_proxy
    assert _requests_after_a_silent_failover(engine, proxy, request_path) == ["failed", "ok", "ok", "ok"]


def test_connections_that_rested_are_pinged_and_a_silent_failover_fails_nothing(behind_proxy):  # noqa: ANN001
    engine, proxy = behind_proxy
    outcomes = _requests_after_a_silent_failover(engine, proxy, _through_fast_lookup,
                                                 rest=pool_liveness.RECENT_SECONDS + 0.1)
    assert outcomes == ["ok"] * 4
