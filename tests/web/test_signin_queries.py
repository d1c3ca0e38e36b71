"""How many SQL statements a full sign-in costs: /authorize, password, authenticator app, code issued.

The flow position is resolved once per request and the facts about the user are asked once; a regression
(a view or step that re-queries per call) shows up here as a higher count."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from idp import fast_lookup

from tests.support.factors import EMAIL, code_at, enrol_totp, rp, start  # noqa: F401 (fixture)

# Measured (statements from /authorize to the code, transaction control not counted): 113 on SQLite before
# the sign-in service (issue 12); 82 with it and the counters of issue 13. Issue 14: 35 on SQLite and
# PostgreSQL — facts read once per request (idp.session_memo), the next page as the POST's own answer (no
# redirect and GET), rate limits in one statement on the request's session, attempt counters read once and
# written once, the audit head locked and read by one upsert. Then (stop 21) 31 on SQLite, 29 on PostgreSQL:
# the login transaction's user and client come with the transaction itself. Then 29 on SQLite, 27 on
# PostgreSQL: the browser session is inserted with the application it is noted for, and an application's
# login transaction is written once (done, unless the answer has to wait). Then 26 on SQLite, 25 on
# PostgreSQL: a sign-in POST's rate limits take the user from the cookie (checked against the transaction).
# Then 25 on SQLite, 24 on PostgreSQL: the organisation's branding comes with the account.
BOUND = 25


def _short(statement: str) -> str:
    """One line, without the column list: `SELECT … FROM user_account WHERE ...`."""
    return re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", " ".join(statement.split()))[:200]


@contextmanager
def counted(services, transaction_control: bool = False) -> Iterator[list[str]]:  # noqa: ANN001
    """The SQL statements run meanwhile (idp.fast_lookup's too). Transaction control is left out unless `transaction_control`:
    then it is listed as the database gets it (SQLite: our BEGIN statements; PostgreSQL: the BEGIN, COMMIT
    and ROLLBACK psycopg sends, read from the driver's own transaction state)."""
    statements: list[str] = []
    postgres = not services.database.is_sqlite

    def driver(conn):  # noqa: ANN001, ANN202
        return conn.connection.dbapi_connection

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202, PLR0913
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            if transaction_control and postgres and not driver(conn).autocommit and _idle(driver(conn)):
                statements.append("BEGIN")       # psycopg opens a transaction before this statement
            statements.append(statement)
        elif transaction_control:
            statements.append(statement)

    def ending(name: str):  # noqa: ANN202
        def listener(conn) -> None:  # noqa: ANN001
            if not _idle(driver(conn)):
                statements.append(name)
        return listener

    def count_fast(statement: str, driver_connection) -> None:  # noqa: ANN001 - idp.fast_lookup's listener
        if statement.upper().startswith("BEGIN"):       # SQLite's BEGIN IMMEDIATE (idp.db)
            if transaction_control:
                statements.append(statement)
            return
        if transaction_control and postgres and not driver_connection.autocommit and _idle(driver_connection):
            statements.append("BEGIN")
        statements.append(statement)

    engine = services.database.engine
    fast_lookup.listeners.append(count_fast)
    listeners = [("before_cursor_execute", count)]
    if transaction_control and postgres:
        listeners += [("commit", ending("COMMIT")), ("rollback", ending("ROLLBACK"))]
    for name, listener in listeners:
        sa.event.listen(engine, name, listener)
    try:
        yield statements
    finally:
        fast_lookup.listeners.remove(count_fast)
        for name, listener in listeners:
            sa.event.remove(engine, name, listener)


def _idle(dbapi_connection) -> bool:  # noqa: ANN001
    import psycopg

    return dbapi_connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_password_and_totp_sign_in_stays_under_the_statement_bound(browser, factory, rp, services,  # noqa: F811
                                                                   frozen_clock):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    with counted(services) as statements:
        page, _ = start(browser, rp)
        assert "Open your authenticator app" in page.text
        done = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert done.location and done.location.startswith(rp.redirect_uri) and "code=" in done.location
    assert len(statements) <= BOUND, f"{len(statements)} statements:\n" + "\n".join(
        _short(s) for s in statements)
    print(f"statements for a password+TOTP sign-in: {len(statements)}")
