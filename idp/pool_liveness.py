"""Pooled PostgreSQL connections checked at checkout, with a round trip only when one may be stale.

SQLAlchemy's `pool_pre_ping` sends `SELECT 1` at every checkout: eight round trips per sign-in, each a
fraction of a millisecond of CPU and, with the database across a network, of latency. Here a connection that
went back to the pool less than RECENT_SECONDS ago, with nothing waiting on its socket, is taken as it is;
any other is pinged as `pool_pre_ping` would (the same window as HikariCP's `aliveBypassWindowMs`).

A server that stops, restarts or ends a connection (`pg_terminate_backend`, an idle timeout) writes its last
message to the socket and closes it, so the socket is readable: that connection is pinged, fails, and the
pool replaces every connection made before it (as after a failed pre-ping); the request that finds it does
not fail. A failover that leaves the old sockets open and silent (an address moved to another host, a
partition) is not seen until a statement fails: under load, one request per process then fails (503), and
that failure makes the pool replace every older connection (SQLAlchemy's own execution, and
idp.fast_lookup's); `pool_pre_ping` would have caught it with its ping."""
from __future__ import annotations

import select
import time

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect

RECENT_SECONDS = 0.5
_RETURNED = "idp_returned"    # in a connection record's info: (the DBAPI connection, when it went back to the pool)


def check_at_checkout(engine: sa.Engine) -> None:
    """Check the connections `engine` takes from its pool (an engine made without pool_pre_ping)."""
    dialect = engine.dialect

    @sa.event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: DBAPIConnection | None, record) -> None:  # noqa: ANN001
        if dbapi_connection is not None:                  # None: it was invalidated
            record.info[_RETURNED] = (dbapi_connection, time.monotonic())

    @sa.event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: DBAPIConnection, record, _proxy) -> None:  # noqa: ANN001
        connection, returned_at = record.info.pop(_RETURNED, (None, 0.0))
        if connection is not dbapi_connection:            # a new connection: nothing to check
            return
        if time.monotonic() - returned_at < RECENT_SECONDS and _quiet(dbapi_connection):
            return
        if not _answers(dialect, dbapi_connection):
            raise sa.exc.InvalidatePoolError("a pooled connection did not answer a ping")


def _quiet(dbapi_connection: DBAPIConnection) -> bool:
    """Nothing to read on the connection's socket: an idle server sends nothing, a closing one does."""
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        return not poller.poll(0)
    except Exception:  # noqa: BLE001 - closed, no socket: not quiet, so it is pinged (and replaced)
        return False


def _answers(dialect: Dialect, dbapi_connection: DBAPIConnection) -> bool:
    """The dialect's ping (`SELECT 1`): False when the connection is gone; any other error is raised."""
    try:
        return dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, dbapi_connection, None):
            return False
        raise
