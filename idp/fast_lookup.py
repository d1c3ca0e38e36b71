"""Lookups and single writes on the hottest paths, run on the DBAPI cursor with SQL that SQLAlchemy compiled once.

A SQLAlchemy `Connection.execute` costs far more than the query it runs (measured on one indexed lookup:
about 100 µs of Python against 5 µs on SQLite, 250 µs against 60 µs on PostgreSQL). A `Lookup` (a SELECT)
or a `Statement` (an INSERT, UPDATE or upsert, with or without RETURNING) keeps what does not change between
executions: its SQL compiled for the engine's dialect, the order of its parameters, and SQLAlchemy's own bind
and result processors for their types (so values go in and come back exactly as with SQLAlchemy: aware
datetimes, booleans, JSON). `Lookup.first` runs outside any transaction (PostgreSQL: autocommit for the one
statement; SQLite: no BEGIN, so no write lock) on a pooled connection: use it only for a single read whose
failure the caller handles by taking the ordinary path. `Statement.rows` runs a write alone the same way: the
statement is its own transaction, committed when it returns (on SQLite it takes the write lock for its own
duration and waits for it up to the busy timeout; a failure is raised, the connection invalidated).
`first_in`, `all_in`, `rowcount_in` and `rows_in` run in a session's transaction, on its connection; a lookup
flushes the session's pending changes first (as an ORM query would), a write does not (as a Core statement
would not).

A statement is compiled with exactly the values the caller passes by name (`sa.bindparam`) and literal ones:
one that needs a Python-side column default computed by SQLAlchemy, or has a parameter without a type (it
would skip its column's conversion), is refused when compiled; a value for no parameter is refused when run.
A failure comes out as SQLAlchemy's own execution raises it (sqlalchemy.exc.DBAPIError and its subclasses,
parameters hidden), and a connection the database dropped is invalidated.

SQLAlchemy's engine events do not see these statements: whoever counts statements (the tests, bench/run.py)
also adds a callable to `listeners` (one list for the process), told `(sql, driver_connection)` before each
execution."""
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
    known: frozenset[str]                             # the parameter names


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
        unknown = params.keys() - compiled.known
        if unknown:      # a value nobody would store: refuse rather than drop it
            raise TypeError(f"no such parameter: {', '.join(sorted(unknown))}")
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
        untyped = [param.key for param in params if isinstance(param.type, sa.types.NullType)]
        if untyped:      # bound without the column's conversion (an aware datetime, JSON...): never
            raise ValueError(f"{self._statement!r}: no type for parameter(s) {', '.join(untyped)}")
        binds = tuple(param.type.dialect_impl(dialect).bind_processor(dialect) for param in params)
        defaults = tuple(_REQUIRED if param.required else param.value for param in params)
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in self._columns)
        row = namedtuple("Row", [column.key for column in self._columns], rename=True) if self._columns else None  # noqa: PYI024
        done = _Compiled(compiled.string, names, binds, defaults, results, dialect.positional, row, frozenset(names))
        self._compiled[dialect.name] = done
        return done

    def _run_in(self, db: Session, params: dict[str, Any], read: Callable[[Any], Any]) -> tuple[_Compiled, Any]:
        """The compiled form and `read(cursor)` after running it in `db`'s transaction (begun if it was not),
        on its connection; a lookup flushes the session's pending changes first unless autoflush is off."""
        if self._flush_first and db.autoflush and (db.new or db.dirty or db.deleted):
            db.flush()
        connection = db.connection()
        compiled = self._for(connection.dialect)
        return compiled, _run_on(connection, compiled.sql, self._parameters(compiled, params), read)


class Lookup(_Precompiled):
    """One Core SELECT, compiled per dialect on first use; `first(engine, **params)` returns the first row
    (a named tuple with the statement's column keys) or None."""

    def __init__(self, statement: sa.Select) -> None:
        super().__init__(statement, list(statement.selected_columns), flush_first=True)

    def first(self, engine: sa.Engine, **params: Any) -> tuple | None:
        """Outside any transaction, on a connection of `engine`'s pool."""
        compiled = self._for(engine.dialect)
        return self._row(compiled, _alone(engine, compiled.sql, self._parameters(compiled, params), _first))

    def first_in(self, db: Session, **params: Any) -> tuple | None:
        """In `db`'s transaction, on its connection."""
        compiled, raw = self._run_in(db, params, _first)
        return self._row(compiled, raw)

    def all_in(self, db: Session, **params: Any) -> list[tuple]:
        """Every row, in `db`'s transaction, on its connection."""
        compiled, raw = self._run_in(db, params, _all)
        return [self._row(compiled, row) for row in raw]


class Statement(_Precompiled):
    """One Core INSERT, UPDATE or DELETE (RETURNING optional), compiled per dialect on first use, run in a
    session's transaction (`rowcount_in` says how many rows it changed, `rows_in` returns the RETURNING rows)
    or alone (`rows`, see the module doc).
    As a Core statement executed through the session, it leaves the session's pending changes pending (the
    order of writes, and so of row locks, stays the caller's)."""

    def __init__(self, statement: sa.UpdateBase) -> None:
        super().__init__(statement, list(statement.exported_columns), flush_first=False)

    def rowcount_in(self, db: Session, **params: Any) -> int:
        return self._run_in(db, params, _rowcount)[1]

    def rows_in(self, db: Session, **params: Any) -> list[tuple]:
        compiled, raw = self._run_in(db, params, _all)
        return [self._row(compiled, row) for row in raw]

    def rows(self, engine: sa.Engine, **params: Any) -> list[tuple]:
        """The RETURNING rows of the statement run alone, outside any transaction (committed when it returns),
        on a connection of `engine`'s pool."""
        compiled = self._for(engine.dialect)
        return [self._row(compiled, row) for row in _alone(engine, compiled.sql, self._parameters(compiled, params),
                                                             _all)]


# A statement for several rows at once (a multi-row VALUES, an IN list) is made once per number of rows, with
# the parameters of row i named `name_ri` (SQLAlchemy names its own anonymous parameters `name_1`, ...).

def numbered_binds(table: sa.Table, names: Iterable[str], count: int) -> list[dict[str, sa.BindParameter]]:
    """`count` rows of bind parameters for columns `names` of `table`, `name_ri` for each name of row i (a
    multi-row INSERT's VALUES), each with its column's type (SQLAlchemy types only the first row's)."""
    return [{name: sa.bindparam(_numbered(name, i), type_=table.c[name].type) for name in names}
            for i in range(count)]


def upsert_into(dialect: str, table: sa.Table) -> Any:
    """An INSERT into `table` that can take ON CONFLICT ... DO UPDATE, for `dialect` (postgresql or sqlite)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def numbered(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters for numbered_binds: row i's `name` as `name_ri`."""
    return {_numbered(name, i): value for i, row in enumerate(rows) for name, value in row.items()}


def _numbered(name: str, row: int) -> str:
    return f"{name}_r{row}"


def _alone(engine: sa.Engine, sql: str, parameters: list | dict, read: Callable[[Any], Any]) -> Any:
    """`read(cursor)` after `sql` on a pooled DBAPI connection (checked out as usual: pre-pinged on PostgreSQL),
    in autocommit (SQLite: no BEGIN, so the statement is its own transaction). A connection that fails is
    invalidated, not put back into the pool; a driver error comes out as SQLAlchemy's (see _run_on), also one
    while connecting."""
    try:
        connection = engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as exc:     # the database is unreachable
        raise _wrapped(engine.dialect, exc, sql, parameters, lost=True) from exc
    try:
        driver = connection.driver_connection
        switch = engine.dialect.name == "postgresql"
        if switch:
            driver.autocommit = True        # one statement: no BEGIN and ROLLBACK round trips
        result = _execute(driver, sql, parameters, read)
        if switch:
            driver.autocommit = False
    except engine.dialect.loaded_dbapi.Error as exc:
        connection.invalidate(exc)
        raise _wrapped(engine.dialect, exc, sql, parameters, lost=True) from exc
    except BaseException:
        connection.invalidate()
        raise
    finally:
        connection.close()
    return result


def _run_on(connection: sa.Connection, sql: str, parameters: list | dict, read: Callable[[Any], Any]) -> Any:
    """`read(cursor)` after `sql` on the DBAPI connection of SQLAlchemy's `connection`, failing as
    SQLAlchemy's own execution does: a driver error comes out as sqlalchemy.exc.DBAPIError (OperationalError,
    IntegrityError...: what the web layer answers 503 to, what callers catch), and a connection the database
    dropped is invalidated (its transaction can only be rolled back; the pool does not hand it out again)."""
    dialect = connection.dialect
    try:
        return _execute(connection.connection.driver_connection, sql, parameters, read)
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
        if lost:
            connection.invalidate(exc)
        raise _wrapped(dialect, exc, sql, parameters, lost=lost) from exc


def _wrapped(dialect: sa.Dialect, exc: Exception, sql: str, parameters: list | dict, *, lost: bool) -> Exception:
    return sa.exc.DBAPIError.instance(sql, parameters, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
                                      connection_invalidated=lost, dialect=dialect)


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


def run_driver_sql(connection: sa.Connection, sql: str) -> None:
    """Run `sql` (no parameters, no result: e.g. SQLite's BEGIN IMMEDIATE) on `connection`'s DBAPI connection."""
    _run_on(connection, sql, (), _nothing)


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
    cost per query. `joined(select)` adds the FROM, joins and WHERE to the SELECT of all the columns (and may
    add columns of its own: their values follow the instances). Deferred columns are not read (they load when
    used, as after an ORM query). The models named in `detached` come back detached instead (cheaper: for rows
    only read): every column is there, a many-to-one to another of the row's instances is linked, and reading
    any other relationship raises DetachedInstanceError (never a silent empty value)."""

    def __init__(self, models: tuple[type, ...], joined: Callable[[sa.Select], sa.Select], *,
                 detached: tuple[type, ...] = ()) -> None:
        self._models = models
        self._entities = tuple(_Entity.of(model, detached=model in detached) for model in models)
        self._links = tuple(_links(self._entities))
        columns = [attr.columns[0] for model in models for attr in _loaded(sa.inspect(model))]
        self._lookup = Lookup(joined(sa.select(*columns)))

    def first_in(self, db: Session, **params: Any) -> tuple | None:
        """The instances of the first row (in `db`'s transaction), one per model, then the values of any
        columns `joined` added; None for no row."""
        row = self._lookup.first_in(db, **params)
        return None if row is None else self._instances(db, row)

    def all_in(self, db: Session, **params: Any) -> list[tuple]:
        """Every row as `first_in` returns one."""
        return [self._instances(db, row) for row in self._lookup.all_in(db, **params)]

    def _instances(self, db: Session, row: tuple) -> tuple:
        found, new, start = [], [], 0
        for entity in self._entities:
            values = dict(zip(entity.keys, row[start:start + len(entity.keys)], strict=True))
            instance, made = entity.instance(None if entity.detached else db, values)
            found.append(instance)
            new.append(made)
            start += len(entity.keys)
        for link in self._links:
            if new[link.source]:      # an instance the session held already keeps its own relationships
                link.apply(found[link.source], found[link.target])
        return (*found, *row[start:])


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
        return cls(mapper, tuple(attr.key for attr in _loaded(mapper)),
                   tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key), detached)

    def instance(self, db: Session | None, values: dict[str, Any]) -> tuple[object | None, bool]:
        """The instance with `values`, in `db` (None: detached), and whether it was made here (not one the
        session held already); None when an outer join found nothing."""
        key = tuple(values[name] for name in self.primary)
        if all(part is None for part in key):
            return None, False
        known = None if db is None else db.identity_map.get(self.mapper.identity_key_from_primary_key(key))
        if known is not None:
            return known, False                         # what this session already holds wins, as in a query
        instance = self.mapper.class_manager.new_instance()  # as the ORM loads a row: no __init__, no attribute
        instance.__dict__.update(values)                # events, so nothing is pending
        make_transient_to_detached(instance)            # the identity from the key; anything not loaded expires
        if db is not None:
            db.add(instance)
        return instance, True


def _loaded(mapper: Any) -> list:
    """The column attributes a lookup reads: all but deferred ones (they load when read, as after a query)."""
    return [attr for attr in mapper.column_attrs if not attr.deferred]


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
