"""Record the SQL a block of code sends: SQLAlchemy's statements and idp.fast_lookup's (which bypass its events)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from idp import fast_lookup


@contextmanager
def recorded(engine: sa.Engine, *, this_thread_only: bool = False) -> Iterator[list[str]]:
    """The statements sent on `engine` meanwhile (transaction control included), in order, and idp.fast_lookup's
    (its listeners are the process's: those of every engine); with `this_thread_only`, those of the calling
    thread alone (not a background thread's)."""
    seen: list[str] = []
    me = threading.get_ident()

    def note(statement: str) -> None:
        if not this_thread_only or threading.get_ident() == me:
            seen.append(statement)

    def on_cursor(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, PLR0913
        note(statement)

    def on_driver(statement: str, driver_connection) -> None:  # noqa: ANN001
        note(statement)

    sa.event.listen(engine, "before_cursor_execute", on_cursor)
    fast_lookup.listeners.append(on_driver)
    try:
        yield seen
    finally:
        fast_lookup.listeners.remove(on_driver)
        sa.event.remove(engine, "before_cursor_execute", on_cursor)
