"""A clean database for every test: a fresh SQLite file, or truncated tables in a PostgreSQL database
created (and migrated with alembic) once per test run."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import sqlalchemy as sa

from idp.models import Base

PG_ENV = "IDP_TEST_DATABASE_URL"


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

    def create_schema(self) -> None:
        """The models' schema (tests/test_migrations.py proves the alembic migrations build the same)."""
        engine = sa.create_engine(self.url)
        Base.metadata.create_all(engine)
        engine.dispose()

    def clean(self) -> None:
        engine = sa.create_engine(self.url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        engine.dispose()

    def drop(self) -> None:
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
