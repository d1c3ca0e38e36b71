"""PostgreSQL drops every pooled connection (a restart, a failover, pg_terminate_backend): the next requests
are answered as usual, also by the paths that run their statements on the driver's cursor (idp.fast_lookup:
the rate-limit counts, the refresh answered before Flask), and a connection dropped in the middle of a
request fails it the way SQLAlchemy's own execution does (a SQLAlchemy error, the connection discarded)."""
from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from idp import fast_lookup
from idp.models import User
from tests.support.oidc_client import basic

OFFLINE = "openid email offline_access"


@pytest.fixture
def engine(services):  # noqa: ANN001, ANN201
    if services.database.is_sqlite:
        pytest.skip("SQLite has no server that can drop a connection")
    return services.database.engine


def _drop_all_but_mine(engine: sa.Engine) -> None:
    """What a server restart does to the pooled connections: every other backend of the database ends."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_a_sign_in_right_after_the_server_dropped_the_connections(engine, browser, factory):
    factory.user("alice@example.com")
    page = browser.open("/login")
    _drop_all_but_mine(engine)
    page = browser.sign_in(page, "alice@example.com", "wrong password")
    assert page.status == 200 and "not correct" in page.text


def test_a_refresh_right_after_the_server_dropped_the_connections(engine, rp):
    refresh_token = rp.tokens(scope=OFFLINE)["refresh_token"]
    _drop_all_but_mine(engine)
    reply = rp.client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                           headers=basic(rp.client_id, rp.reg.secret))
    assert reply.status_code == 200 and reply.json["refresh_token"] != refresh_token


def test_a_connection_dropped_mid_request_fails_as_sqlalchemy_would_and_is_discarded(engine, services, factory):
    factory.user("alice@example.com")
    touch = fast_lookup.Statement(sa.update(User).where(User.email == sa.bindparam("email"))
                                  .values(name=sa.bindparam("name")))
    with services.database.session() as db:
        mine = db.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        _drop_all_but_mine(engine)                    # this request's own connection too
        with pytest.raises(sa.exc.OperationalError) as raised:
            touch.rowcount_in(db, email="alice@example.com", name="Alice")
        assert raised.value.connection_invalidated
        db.rollback()                                 # no error: the dead connection is not asked to roll back
    with services.database.session() as db:          # the pool hands out a live one
        assert db.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() != mine
        assert touch.rowcount_in(db, email="alice@example.com", name="Alice") == 1
