from __future__ import annotations

import psycopg
import pytest


def _terminate_all_but_mine(engine):
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_a_sign_in_right_after_the_server_dropped_the_connection(services, browser):
    if services.database.is_sqlite:
        pytest.skip("PostgreSQL only")
    page = browser.open("/login")
    assert page.status == 200
    _terminate_all_but_mine(services.database.engine)
    try:
        page = browser.sign_in(page, "alice@example.com", "wrong password")
        print("STATUS", page.status, page.text[:300].replace("\n", " "))
    except Exception as exc:  # noqa: BLE001
        print("RAISED", type(exc).__module__, type(exc).__name__, exc)
        raise
    page2 = browser.open("/login")
    print("NEXT", page2.status)
