"""idp.db on PostgreSQL: a pooled connection is pinged at checkout only after being idle, and a dead one is
replaced there (a restarted server is picked up without restarting the process)."""
from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from idp import db as idp_db


@pytest.fixture
def engine(services):  # noqa: ANN001, ANN201
    if services.database.is_sqlite:
        pytest.skip("SQLite has no server connection to ping")
    return services.database.engine


@pytest.fixture
def pings(engine, monkeypatch) -> list[int]:  # noqa: ANN001
    seen: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection) -> bool:  # noqa: ANN001
        seen.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def _terminate_all_but_mine(engine: sa.Engine) -> None:
    """What a server restart does to the pooled connections: every other backend of the database ends."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_a_connection_used_a_moment_ago_is_not_pinged(engine, pings, monkeypatch):
    monkeypatch.setattr(idp_db, "PING_AFTER_IDLE_SECONDS", 60.0)
    _backend(engine)
    before = len(pings)
    for _ in range(5):
        _backend(engine)
    assert len(pings) == before


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(engine, pings, monkeypatch):
    first = _backend(engine)
    monkeypatch.setattr(idp_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    _terminate_all_but_mine(engine)
    assert _backend(engine) != first            # no error: the dead connection was replaced at checkout
    assert pings
