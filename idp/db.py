"""Database engine and sessions: SQLite file or PostgreSQL, pooled and pre-pinged."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from idp.config import DatabaseConfig
from idp.fast_lookup import run_driver_sql

log = logging.getLogger("idp.db")


def create_engine(config: DatabaseConfig) -> sa.Engine:
    """An engine for config.url; SQLite gets WAL, foreign keys and a busy timeout for several workers."""
    url = make_url(config.url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, config)
    # pre-ping: a connection that died with a restarted or failed-over server is replaced at checkout, so
    # the process recovers by itself; connect_timeout: an unreachable server fails a request (503) within
    # seconds instead of holding a worker until gunicorn kills it
    connect_args = _postgres_connect_args(url) if url.get_backend_name() == "postgresql" else {}
    return sa.create_engine(url, pool_size=config.pool_size, max_overflow=config.max_overflow,
                            pool_pre_ping=True, pool_timeout=10, echo=config.echo, connect_args=connect_args)


def _postgres_connect_args(url: sa.URL) -> dict[str, object]:
    """connect_timeout 5 s; and no attempt at GSSAPI (Kerberos) encryption unless the URL asks for it
    (`?gssencmode=prefer` or `require`): libpq's default `prefer` initialises Kerberos for every connection
    (0.3–0.6 MB more in a process measured alone, within the noise of bench/run.py's workers) and falls back
    to TLS or none anyway when there is no Kerberos ticket, so it protects nothing that `sslmode` does not."""
    args: dict[str, object] = {"connect_timeout": 5}
    if "gssencmode" not in url.query:
        args["gssencmode"] = "disable"
    return args


def _sqlite_engine(url: sa.URL, config: DatabaseConfig) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, echo=config.echo, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below take over
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: no corruption, saves an fsync per commit
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # writers queue instead of failing on upgrade; on the DBAPI connection (a Connection.exec_driver_sql
        # costs twice as much, and this runs for every transaction)
        run_driver_sql(conn, "BEGIN IMMEDIATE")

    return engine


REDO = "idp.redo_if_rolled_back"     # Session.info: the counts to do again should the transaction roll back
Redo = Callable[[Session], object]


def redo_if_rolled_back(db: Session, redo: Redo) -> None:
    """`db` has just counted a wrong secret (a lockout or attempt counter, a code's attempts, their audit
    entries). Should its transaction be rolled back instead of committed (a request that fails after the
    comparison, a database error, a refused API call), `redo` counts it again in a transaction of its own,
    so that no error ever buys a guess that does not count. `redo` gets that transaction's session; it must
    not use objects of `db` (they are expired by the rollback): give it ids and plain values.

    Refused inside a savepoint (RuntimeError): rolling the savepoint back would undo the count while the
    transaction goes on, with the redo dropped at its commit. Count in the outer transaction."""
    if db.in_nested_transaction():
        raise RuntimeError("a wrong secret must be counted outside a savepoint (see idp.db.redo_if_rolled_back)")
    db.info.setdefault(REDO, []).append(redo)


def counted_since(db: Session) -> Callable[[], bool]:
    """For a redo just registered: a check, still right after the transaction ended, of whether `db` counted a
    wrong secret since (another redo registered after it; only a counted wrong secret registers one)."""
    redos = db.info.setdefault(REDO, [])
    mark = len(redos)
    return lambda: len(redos) > mark


class Database:
    """Owns the engine and makes sessions; the web layer keeps one session per request."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.engine = create_engine(config)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        sa.event.listen(self.sessions, "after_commit", _committed)
        sa.event.listen(self.sessions, "after_transaction_end", self._ended)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends normally, rolled back otherwise."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()

    def _ended(self, session: Session, transaction: SessionTransaction) -> None:
        """A transaction ended without committing (rolled back, or its rollback failed on a lost connection):
        the counts of wrong secrets it made are lost, so each is done again, committed on its own (the
        connection and its locks are released already). A redo that fails is logged and dropped: the
        database is then failing every request as well."""
        if transaction.parent is not None:      # a savepoint: the transaction goes on
            return
        for redo in session.info.pop(REDO, ()):
            try:
                with self.session() as fresh:
                    try:
                        redo(fresh)
                    finally:
                        fresh.info.pop(REDO, None)    # the redo's own registration: never done a third time
            except Exception:      # noqa: BLE001 - inside the end of a transaction: never raise from here
                log.exception("a wrong secret counted by a failed transaction could not be counted again")


def _committed(session: Session) -> None:
    """The counts stand: nothing to do again (a savepoint's release is not the transaction's commit)."""
    if not session.in_nested_transaction():
        session.info.pop(REDO, None)
