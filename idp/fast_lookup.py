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
from sqlalchemy.orm import MANYTOONE, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

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
        """Outside any transaction, on a connection of `engine`'s pool."""
        compiled = self._compiled.get(engine.dialect.name) or self._compile(engine.dialect)
        return self._row(compiled, _fetch_one(engine, compiled.sql, self._parameters(compiled, params)))

    def first_in(self, db: Session, **params: Any) -> tuple | None:
        """In `db`'s transaction (begun if it was not), on its connection; pending changes are flushed first
        unless autoflush is off, as before an ORM query."""
        if db.autoflush and (db.new or db.dirty or db.deleted):
            db.flush()
        connection = db.connection()
        compiled = self._compiled.get(connection.dialect.name) or self._compile(connection.dialect)
        driver = connection.connection.driver_connection
        return self._row(compiled, _execute_one(driver, compiled.sql, self._parameters(compiled, params)))

    @staticmethod
    def _parameters(compiled: _Compiled, params: dict[str, Any]) -> list | dict:
        values = [params[name] if bind is None else bind(params[name])
                  for name, bind in zip(compiled.names, compiled.binds, strict=True)]
        return values if compiled.positional else dict(zip(compiled.names, values, strict=True))

    @staticmethod
    def _row(compiled: _Compiled, raw: tuple | None) -> tuple | None:
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
        row = namedtuple("Row", [column.key for column in columns], rename=True)  # noqa: PYI024 - from the statement
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
        row = _execute_one(driver, sql, parameters)
        if switch:
            driver.autocommit = False
    except BaseException:
        connection.invalidate()
        raise
    finally:
        connection.close()
    return row


def _execute_one(driver: Any, sql: str, parameters: list | dict) -> tuple | None:
    """The first row of `sql` on the DBAPI connection `driver` (the listeners are told first)."""
    for listener in listeners:
        listener(sql, driver)
    cursor = driver.cursor()
    try:
        cursor.execute(sql, parameters)
        return cursor.fetchone()
    finally:
        cursor.close()


class EntityLookup:
    """A Lookup of the columns of several mapped classes (an outer-joined one may come back all NULL: None);
    each found row is attached to the session as if the ORM had loaded it (identity map, relationships load
    as usual when read: a many-to-one to another of them from the identity map), without the ORM's loading
    cost per query. `joined(select)` adds the FROM, joins and WHERE to the SELECT of all the columns."""

    def __init__(self, models: tuple[type, ...], joined: Callable[[sa.Select], sa.Select]) -> None:
        self._models = models
        self._keys = [tuple(attr.key for attr in sa.inspect(model).column_attrs) for model in models]
        columns = [attr.columns[0] for model in models for attr in sa.inspect(model).column_attrs]
        self._lookup = Lookup(joined(sa.select(*columns)))

    def first_in(self, db: Session, **params: Any) -> tuple | None:
        """The instances of the first row (in `db`'s transaction), one per model, or None for no row."""
        row = self._lookup.first_in(db, **params)
        if row is None:
            return None
        found, start = [], 0
        for model, keys in zip(self._models, self._keys, strict=True):
            found.append(_attached(db, model, dict(zip(keys, row[start:start + len(keys)], strict=True))))
            start += len(keys)
        _link([instance for instance in found if instance is not None])
        return tuple(found)


def _attached(db: Session, model: type, values: dict[str, Any]) -> object | None:
    mapper = sa.inspect(model)
    key = tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key)
    if all(part is None for part in key):
        return None                                # an outer join that found nothing
    known = db.identity_map.get(mapper.identity_key_from_primary_key(key))
    if known is not None:
        return known                               # what this session already holds wins, as in a query
    instance = mapper.class_manager.new_instance()  # as the ORM loads a row: no __init__, no attribute events,
    instance.__dict__.update(values)                # so nothing is pending
    make_transient_to_detached(instance)            # the identity from the key; anything not loaded expires
    db.add(instance)
    return instance


def _link(instances: list) -> None:
    """Set each many-to-one between the instances, as a joined load would (no change to flush)."""
    by_class = {type(instance): instance for instance in instances}
    for instance in instances:
        mapper = sa.inspect(type(instance))
        for relation in mapper.relationships:
            target = by_class.get(relation.mapper.class_)
            if relation.direction is MANYTOONE and target is not None and all(
                    getattr(instance, mapper.get_property_by_column(local).key)
                    == getattr(target, relation.mapper.get_property_by_column(remote).key)
                    for local, remote in relation.local_remote_pairs):
                set_committed_value(instance, relation.key, target)
