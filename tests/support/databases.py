"""A clean database for every test: a fresh SQLite file, or truncated tables in a PostgreSQL database
created (and migrated with alembic) once per test run."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import sqlalchemy as sa

from idp.models import Base

PG_ENV = "IDP_TEST_DATABASE_URL"
DEADLOCK = "40P01"          # PostgreSQL's deadlock_detected
DEADLOCK_RETRIES = 5


def postgres_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


class PostgresTestDatabase:
    """One throw-away database per run (so parallel runs never collide), emptied between tests."""

    def __init__(self, base_url: str) -> None:
        self.admin_url = sa.make_url(base_url)
        self.name = f"idp_test_{uuid.uuid4().hex[:10]}"
        self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)
        admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        admin.dispose()
        # the cleaner's own connection, kept for the run (pre-ping: a test may restart the server under it)
        self._engine = sa.create_engine(self.url, pool_size=1, max_overflow=0, pool_pre_ping=True)
        self._sequences: list[tuple[str, int]] | None = None

    def create_schema(self) -> None:
        """The models' schema (tests/test_migrations.py proves the alembic migrations build the same)."""
        engine = sa.create_engine(self.url)
        Base.metadata.create_all(engine)
        engine.dispose()

    def _owned_sequences(self, conn: sa.Connection) -> list[tuple[str, int]]:
        """(sequence, start value) of every sequence owned by a column: what TRUNCATE ... RESTART IDENTITY
        restarts."""
        if self._sequences is None:
            found = []
            for table in Base.metadata.sorted_tables:
                for column in table.columns:
                    row = conn.exec_driver_sql(
                        "SELECT s.seqrelid::regclass::text, s.seqstart FROM pg_sequence s "
                        "WHERE s.seqrelid = pg_get_serial_sequence(%s, %s)::regclass",
                        (f'"{table.name}"', column.name)).first()
                    if row is not None:
                        found.append((row[0], row[1]))
            self._sequences = found
        return self._sequences

    def clean(self, seed: "SeedRows") -> None:
        """What `TRUNCATE <every table> RESTART IDENTITY CASCADE`, then the seed rows, gave (and a test sees the
        same): every table empty but the seed rows, every id sequence back at its start, the seeded tables'
        sequences past the seed ids. TRUNCATE of 36 tables makes new files for each table and index (about
        90 ms a test); this is one transaction on a kept connection (about 3 ms): lock every table as
        TRUNCATE does (waiting for any transaction still using them), DELETE children before parents,
        restart the sequences, insert the seed rows."""
        for attempt in range(DEADLOCK_RETRIES):
            try:
                return self._clean(seed)
            except sa.exc.OperationalError as exc:
                # a transaction still running (e.g. a server of the previous test finishing a write) took a lock
                # on a table this lock waits for, then wanted one this lock had taken; PostgreSQL chose this
                # transaction to end: the other then finishes, and a second try gets every lock
                if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_RETRIES - 1:
                    raise
        return None

    def _clean(self, seed: "SeedRows") -> None:
        tables = Base.metadata.sorted_tables
        names = ", ".join(f'"{t.name}"' for t in tables)
        with self._engine.begin() as conn:
            conn.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
            conn.exec_driver_sql("; ".join(f'DELETE FROM "{t.name}"' for t in reversed(tables)))
            restart = ", ".join(f"setval('{seq}', {start}, false)" for seq, start in self._owned_sequences(conn))
            if restart:
                conn.exec_driver_sql(f"SELECT {restart}")
            for table, rows in seed.rows:
                conn.execute(table.insert(), rows)
            for table, _rows in seed.rows:  # keep sequences past the copied ids
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM \"{table.name}\"))")

    def drop(self) -> None:
        self._engine.dispose()
        admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        admin.dispose()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'idp.db'}"


def create_sqlite_schema(url: str) -> None:
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


class SeedRows:
    """What every fresh deployment holds (the `default` organisation, one signing key per algorithm),
    made once per test run: key generation is the slow part of a clean database."""

    def __init__(self, kek: str) -> None:
        from idp.migrate import ensure_default_organisation
        from idp.models import Organisation, SigningKey
        from idp.oauth.keys import ensure_signing_keys
        from idp.security.encryption import KeyEncryption
        from sqlalchemy.orm import Session

        engine = sa.create_engine("sqlite://")
        Base.metadata.create_all(engine)
        with Session(engine) as db:
            ensure_default_organisation(db)
            ensure_signing_keys(db, KeyEncryption(kek))
            db.commit()
            self.rows = [(table, [dict(r._mapping) for r in db.execute(sa.select(table))])
                         for table in (Organisation.__table__, SigningKey.__table__)]
        engine.dispose()

    def insert(self, engine: sa.Engine) -> None:
        with engine.begin() as conn:
            for table, rows in self.rows:
                conn.execute(table.insert(), rows)


class SqliteTemplate:
    """A seeded SQLite database built once per run and copied for each test (a copy takes milliseconds)."""

    def __init__(self, directory: Path, seed: SeedRows) -> None:
        self.path = directory / "template.db"
        engine = sa.create_engine(f"sqlite:///{self.path}")
        Base.metadata.create_all(engine)
        seed.insert(engine)
        engine.dispose()

    def copy_to(self, directory: Path) -> str:
        import shutil

        shutil.copyfile(self.path, directory / "idp.db")
        return sqlite_url(directory)
