"""Lookups and single writes on the hottest paths, run on the DBAPI cursor with SQL that SQLAlchemy compiled once.

A SQLAlchemy `Connection.execute` costs far more than the query it runs (measured on one indexed lookup:
about 100 µs of Python against 5 µs on SQLite, 250 µs against 60 µs on PostgreSQL). A `Lookup` (a SELECT)
or a `Statement` (an INSERT, UPDATE or upsert, with or without RETURNING) keeps what does not change between
executions: its SQL compiled for the engine's dialect, the order of its parameters, and SQLAlchemy's own bind
and result processors for their types (so values go in and come back exactly as with SQLAlchemy: aware
datetimes, booleans, JSON). `Lookup.first` runs outside any transaction (PostgreSQL: autocommit for the one
statement; SQLite: no BEGIN, so no write lock) on a pooled connection: use it only for a single read whose
failure the caller handles by taking the ordinary path. `first_in`, `all_in`, `rowcount_in` and `rows_in`
run in a session's transaction, on its connection; a lookup flushes the session's pending changes first
(as an ORM query would), a write does not (as a Core statement would not).

A statement is compiled with exactly the values the caller passes by name (`sa.bindparam`) and literal ones;
one that needs a Python-side column default computed by SQLAlchemy is refused when compiled.

SQLAlchemy's engine events do not see these statements: whoever counts statements (the tests, bench/run.py)
also adds a callable to `listeners`, told `(sql, driver_connection)` before each execution."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import MANYTOONE, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

listeners: list[Callable[[str, Any], None]] = []

_REQUIRED = object()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]                            # the parameters, in the order the driver takes them
    binds: tuple[Callable[[Any], Any] | None, ...]    # per parameter
    defaults: tuple[Any, ...]                         # per parameter: a literal's value, else _REQUIRED
    results: tuple[Callable[[Any], Any] | None, ...]  # per column
    positional: bool
    row: type | None                                  # the result rows' named tuple (None: no columns)


class _Precompiled:
    """A Core statement compiled once per dialect, run on a DBAPI connection."""

    def __init__(self, statement: sa.Executable, columns: list, *, flush_first: bool) -> None:
        self._statement = statement
        self._columns = columns
        self._flush_first = flush_first
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: sa.Dialect) -> _Compiled:
        return self._compiled.get(dialect.name) or self._compile(dialect)

    @staticmethod
    def _parameters(compiled: _Compiled, params: dict[str, Any]) -> list | dict:
        values = []
        for name, bind, default in zip(compiled.names, compiled.binds, compiled.defaults, strict=True):
            value = params[name] if default is _REQUIRED or name in params else default
            values.append(value if bind is None else bind(value))
        return values if compiled.positional else dict(zip(compiled.names, values, strict=True))

    @staticmethod
    def _row(compiled: _Compiled, raw: tuple | None) -> tuple | None:
        if raw is None:
            return None
        return compiled.row(*(value if convert is None else convert(value)
                              for value, convert in zip(raw, compiled.results, strict=True)))

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError(f"{self._statement!r} needs column defaults computed in Python: pass every value")
        names = tuple(compiled.positiontup) if dialect.positional else tuple(compiled.binds)
        params = [compiled.binds[name] for name in names]
        binds = tuple(param.type.dialect_impl(dialect).bind_processor(dialect) for param in params)
        defaults = tuple(_REQUIRED if param.required else param.value for param in params)
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in self._columns)
        row = namedtuple("Row", [column.key for column in self._columns], rename=True) if self._columns else None  # noqa: PYI024
        done = _Compiled(compiled.string, names, binds, defaults, results, dialect.positional, row)
        self._compiled[dialect.name] = done
        return done

    def _driver_in(self, db: Session) -> tuple[_Compiled, Any]:
        """The compiled form and the DBAPI connection of `db`'s transaction (begun if it was not); a lookup
        flushes the session's pending changes first unless autoflush is off."""
        if self._flush_first and db.autoflush and (db.new or db.dirty or db.deleted):
            db.flush()
        connection = db.connection()
        return self._for(connection.dialect), connection.connection.driver_connection


class Lookup(_Precompiled):
    """One Core SELECT, compiled per dialect on first use; `first(engine, **params)` returns the first row
    (a named tuple with the statement's column keys) or None."""

    def __init__(self, statement: sa.Select) -> None:
        super().__init__(statement, list(statement.selected_columns), flush_first=True)

    def first(self, engine: sa.Engine, **params: Any) -> tuple | None:
        """Outside any transaction, on a connection of `engine`'s pool."""
        compiled = self._for(engine.dialect)
        return self._row(compiled, _fetch_one(engine, compiled.sql, self._parameters(compiled, params)))

    def first_in(self, db: Session, **params: Any) -> tuple | None:
        """In `db`'s transaction, on its connection."""
        compiled, driver = self._driver_in(db)
        return self._row(compiled, _execute(driver, compiled.sql, self._parameters(compiled, params), _first))

    def all_in(self, db: Session, **params: Any) -> list[tuple]:
        """Every row, in `db`'s transaction, on its connection."""
        compiled, driver = self._driver_in(db)
        return [self._row(compiled, raw)
                for raw in _execute(driver, compiled.sql, self._parameters(compiled, params), _all)]


class Statement(_Precompiled):
    """One Core INSERT, UPDATE or DELETE (RETURNING optional), compiled per dialect on first use, run in a
    session's transaction: `rowcount_in` says how many rows it changed, `rows_in` returns the RETURNING rows.
    As a Core statement executed through the session, it leaves the session's pending changes pending (the
    order of writes, and so of row locks, stays the caller's)."""

    def __init__(self, statement: sa.UpdateBase) -> None:
        super().__init__(statement, list(statement.exported_columns), flush_first=False)

    def rowcount_in(self, db: Session, **params: Any) -> int:
        compiled, driver = self._driver_in(db)
        return _execute(driver, compiled.sql, self._parameters(compiled, params), _rowcount)

    def rows_in(self, db: Session, **params: Any) -> list[tuple]:
        compiled, driver = self._driver_in(db)
        raw = _execute(driver, compiled.sql, self._parameters(compiled, params), _all)
        return [self._row(compiled, row) for row in raw]


# A statement for several rows at once (a multi-row VALUES, an IN list) is made once per number of rows, with
# the parameters of row i named `name_ri` (SQLAlchemy names its own anonymous parameters `name_1`, ...).

def numbered_binds(names: Iterable[str], count: int) -> list[dict[str, sa.BindParameter]]:
    """`count` rows of bind parameters, `name_ri` for each name of row i (a multi-row INSERT's VALUES)."""
    return [{name: sa.bindparam(_numbered(name, i)) for name in names} for i in range(count)]


def numbered(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters for numbered_binds: row i's `name` as `name_ri`."""
    return {_numbered(name, i): value for i, row in enumerate(rows) for name, value in row.items()}


def _numbered(name: str, row: int) -> str:
    return f"{name}_r{row}"


def _fetch_one(engine: sa.Engine, sql: str, parameters: list | dict) -> tuple | None:
    """The first row of `sql` on a pooled DBAPI connection (checked out as usual: pre-pinged on PostgreSQL),
    in autocommit. A connection that fails is invalidated, not put back into the pool."""
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        switch = engine.dialect.name == "postgresql"
        if switch:
            driver.autocommit = True        # one statement: no BEGIN and ROLLBACK round trips
        row = _execute(driver, sql, parameters, _first)
        if switch:
            driver.autocommit = False
    except BaseException:
        connection.invalidate()
        raise
    finally:
        connection.close()
    return row


def _execute(driver: Any, sql: str, parameters: list | dict, read: Callable[[Any], Any]) -> Any:
    """`read(cursor)` after running `sql` on the DBAPI connection `driver` (the listeners are told first)."""
    for listener in listeners:
        listener(sql, driver)
    cursor = driver.cursor()
    try:
        cursor.execute(sql, parameters)
        return read(cursor)
    finally:
        cursor.close()


def run_driver_sql(driver: Any, sql: str) -> None:
    """Run `sql` (no parameters, no result: e.g. SQLite's BEGIN IMMEDIATE) on the DBAPI connection `driver`."""
    _execute(driver, sql, (), _nothing)


def _nothing(cursor: Any) -> None:
    return None


def _first(cursor: Any) -> tuple | None:
    return cursor.fetchone()


def _all(cursor: Any) -> list[tuple]:
    return cursor.fetchall()


def _rowcount(cursor: Any) -> int:
    return cursor.rowcount


class EntityLookup:
    """A Lookup of the columns of several mapped classes (an outer-joined one may come back all NULL: None);
    each found row is attached to the session as if the ORM had loaded it (identity map, relationships load
    as usual when read: a many-to-one to another of them from the identity map), without the ORM's loading
    cost per query. `joined(select)` adds the FROM, joins and WHERE to the SELECT of all the columns.
    The models named in `detached` come back detached instead (cheaper: for rows only read): every column
    is there, a many-to-one to another of the row's instances is linked, and reading any other relationship
    raises DetachedInstanceError (never a silent empty value)."""

    def __init__(self, models: tuple[type, ...], joined: Callable[[sa.Select], sa.Select], *,
                 detached: tuple[type, ...] = ()) -> None:
        self._models = models
        self._entities = tuple(_Entity.of(model, detached=model in detached) for model in models)
        self._links = tuple(_links(self._entities))
        columns = [attr.columns[0] for model in models for attr in sa.inspect(model).column_attrs]
        self._lookup = Lookup(joined(sa.select(*columns)))

    def first_in(self, db: Session, **params: Any) -> tuple | None:
        """The instances of the first row (in `db`'s transaction), one per model, or None for no row."""
        row = self._lookup.first_in(db, **params)
        if row is None:
            return None
        found, start = [], 0
        for entity in self._entities:
            values = dict(zip(entity.keys, row[start:start + len(entity.keys)], strict=True))
            found.append(entity.instance(None if entity.detached else db, values))
            start += len(entity.keys)
        for link in self._links:
            link.apply(found[link.source], found[link.target])
        return tuple(found)


@dataclass(frozen=True)
class _Entity:
    """How an EntityLookup makes one model's instance from its columns."""

    mapper: Any
    keys: tuple[str, ...]                  # the column attributes, in the SELECT's order
    primary: tuple[str, ...]               # the attributes of the primary key
    detached: bool

    @classmethod
    def of(cls, model: type, *, detached: bool) -> _Entity:
        mapper = sa.inspect(model)
        return cls(mapper, tuple(attr.key for attr in mapper.column_attrs),
                   tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key), detached)

    def instance(self, db: Session | None, values: dict[str, Any]) -> object | None:
        """The instance with `values`, in `db` (None: detached); None when an outer join found nothing."""
        key = tuple(values[name] for name in self.primary)
        if all(part is None for part in key):
            return None
        known = None if db is None else db.identity_map.get(self.mapper.identity_key_from_primary_key(key))
        if known is not None:
            return known                                # what this session already holds wins, as in a query
        instance = self.mapper.class_manager.new_instance()  # as the ORM loads a row: no __init__, no attribute
        instance.__dict__.update(values)                # events, so nothing is pending
        make_transient_to_detached(instance)            # the identity from the key; anything not loaded expires
        if db is not None:
            db.add(instance)
        return instance


@dataclass(frozen=True)
class _Link:
    """A many-to-one from one of an EntityLookup's instances to another, set as a joined load would (no change
    to flush) when their columns agree."""

    source: int
    target: int
    relation: str
    pairs: tuple[tuple[str, str], ...]     # (source attribute, target attribute)

    def apply(self, source: object | None, target: object | None) -> None:
        if source is not None and target is not None and all(
                getattr(source, mine) == getattr(target, theirs) for mine, theirs in self.pairs):
            set_committed_value(source, self.relation, target)


def _links(entities: tuple[_Entity, ...]) -> list[_Link]:
    position = {entity.mapper.class_: i for i, entity in enumerate(entities)}
    links = []
    for i, entity in enumerate(entities):
        for relation in entity.mapper.relationships:
            target = position.get(relation.mapper.class_)
            if relation.direction is MANYTOONE and target is not None:
                pairs = tuple((entity.mapper.get_property_by_column(local).key,
                               relation.mapper.get_property_by_column(remote).key)
                              for local, remote in relation.local_remote_pairs)
                links.append(_Link(i, target, relation.key, pairs))
    return links
