"""Read-only lookups on the hottest paths, run on the DBAPI cursor with SQL that SQLAlchemy compiled once.

A SQLAlchemy `Connection.execute` costs far more than the query it runs (measured on one indexed lookup:
about 100 µs of Python against 5 µs on SQLite, 250 µs against 60 µs on PostgreSQL). A `Lookup` keeps what
does not change between executions: the SQL of its Core SELECT compiled for the engine's dialect, the order
of its parameters, and SQLAlchemy's own bind and result processors for their types (so values come back
exactly as SQLAlchemy would return them: aware datetimes, booleans, JSON). It runs outside any transaction
(PostgreSQL: autocommit for the one statement; SQLite: no BEGIN, so no write lock) on a pooled connection.
Use it only for a single read whose failure the caller handles by taking the ordinary path.

SQLAlchemy's engine events do not see these statements: whoever counts statements (the tests, bench/run.py)
also adds a callable to `listeners`, told `(sql, driver_connection)` before each execution."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

listeners: list[Callable[[str, Any], None]] = []


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]                            # the parameters, in the order the driver takes them
    binds: tuple[Callable[[Any], Any] | None, ...]    # per parameter
    results: tuple[Callable[[Any], Any] | None, ...]  # per column
    positional: bool
    row: type


class Lookup:
    """One Core SELECT, compiled per dialect on first use; `first(engine, **params)` returns the first row
    (a named tuple with the statement's column keys) or None."""

    def __init__(self, statement: sa.Select) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def first(self, engine: sa.Engine, **params: Any) -> tuple | None:
        compiled = self._compiled.get(engine.dialect.name) or self._compile(engine.dialect)
        values = [params[name] if bind is None else bind(params[name])
                  for name, bind in zip(compiled.names, compiled.binds, strict=True)]
        raw = _fetch_one(engine, compiled.sql, values if compiled.positional else dict(
            zip(compiled.names, values, strict=True)))
        if raw is None:
            return None
        return compiled.row(*(value if convert is None else convert(value)
                              for value, convert in zip(raw, compiled.results, strict=True)))

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup) if dialect.positional else tuple(compiled.binds)
        binds = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        columns = list(self._statement.selected_columns)
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        row = namedtuple("Row", [column.key for column in columns])  # noqa: PYI024 - built from the statement
        done = _Compiled(compiled.string, names, binds, results, dialect.positional, row)
        self._compiled[dialect.name] = done
        return done


def _fetch_one(engine: sa.Engine, sql: str, parameters: list | dict) -> tuple | None:
    """The first row of `sql` on a pooled DBAPI connection (checked out as usual: pre-pinged on PostgreSQL),
    in autocommit. A connection that fails is invalidated, not put back into the pool."""
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        switch = engine.dialect.name == "postgresql"
        if switch:
            driver.autocommit = True        # one statement: no BEGIN and ROLLBACK round trips
        for listener in listeners:
            listener(sql, driver)
        cursor = connection.cursor()
        try:
            cursor.execute(sql, parameters)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if switch:
            driver.autocommit = False
    except BaseException:
        connection.invalidate()
        raise
    finally:
        connection.close()
    return row
