"""Answers read once per database session (one request), forgotten as soon as that session writes a table
they were read from, and at every commit or rollback.

A sign-in asks "which second factors does this user have?" from many places in one request (each step's
`is_applicable`, the enforcement status, the page's alternatives). `remember` runs the query the first
time and hands out the answer after that, until the session itself changes one of the tables the answer
came from (ORM flush or a bulk INSERT/UPDATE/DELETE through the session; a change still waiting to be
flushed counts too), or its transaction ends. Nothing outlives the session, so nothing is shared between
requests or workers. Writes through `db.connection()` or an `idp.fast_lookup.Statement` bypass the
session's events: never use them for a table an answer is remembered from, unless the write changes no
remembered answer and sets what it wrote on the remembered rows (a TOTP factor's last used step:
idp.factors.totp._claim_step)."""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

T = TypeVar("T")
KEY = "idp.session_memo"
ALL = "*"   # a write whose table is not known: every answer goes


def remember(db: Session, key: Hashable, tables: Iterable[str], compute: Callable[[], T]) -> T:
    """The answer for `key`, computed once per session while none of `tables` was written."""
    memo: dict[Hashable, tuple[frozenset[str], Any]] = db.info.setdefault(KEY, {})
    if key in memo and (db.new or db.dirty or db.deleted) and memo[key][0] & _tables_of(
            [*db.new, *db.dirty, *db.deleted]):
        del memo[key]       # a change not flushed yet: ask again (the query flushes it first, as any query does)
    if key not in memo:
        value = compute()
        memo[key] = (frozenset(tables), value)
        return value
    return memo[key][1]


def put(db: Session, key: Hashable, tables: Iterable[str], value: Any) -> None:
    """Remember `value` as the answer for `key` (read from `tables` by another answer's query)."""
    db.info.setdefault(KEY, {})[key] = (frozenset(tables), value)


def forget(db: Session, tables: Iterable[str]) -> None:
    """Drop every answer read from one of `tables` (ALL: every answer)."""
    memo = db.info.get(KEY)
    if not memo:
        return
    written = set(tables)
    for key in [k for k, (read, _) in memo.items() if ALL in written or read & written]:
        del memo[key]


def _tables_of(objects: Iterable[object]) -> set[str]:
    return {table.name for obj in objects if (table := getattr(type(obj), "__table__", None)) is not None}


@sa.event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if session.info.get(KEY):
        forget(session, _tables_of([*session.new, *session.dirty, *session.deleted]))


@sa.event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_select or not state.session.info.get(KEY):
        return
    table = getattr(state.statement, "table", None)
    forget(state.session, [table.name] if isinstance(table, sa.Table) else [ALL])


@sa.event.listens_for(Session, "after_commit")
@sa.event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    session.info.pop(KEY, None)
