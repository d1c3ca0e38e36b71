"""idp.fast_lookup: the same row SQLAlchemy would return (aware datetimes, booleans, JSON, None), on SQLite
and PostgreSQL, outside any transaction."""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm.exc import DetachedInstanceError

from idp import fast_lookup
from idp.browser import sessions
from idp.models import (BrowserSession, Organisation, OrganisationBranding, RateLimitBucket, Token, User,
                        UserGroup)

LOOKUP = sa.select(User.email, User.is_active, User.email_verified, User.created_at, User.last_login_at,
                   BrowserSession.amr, BrowserSession.auth_time, BrowserSession.idle_minutes) \
    .join(BrowserSession, BrowserSession.user_id == User.id).where(BrowserSession.sid == sa.bindparam("sid"))


@pytest.fixture
def sid(factory, services) -> str:  # noqa: ANN001
    user_id = factory.user("alice@example.com")
    with services.database.session() as db:
        row = sessions.create(db, db.get(User, user_id), amr=["pwd", "otp", "mfa"], acr=None, ttl_hours=1)
        return row.sid


def test_a_row_is_what_sqlalchemy_returns(services, sid):
    engine = services.database.engine
    with engine.connect() as conn:
        expected = conn.execute(LOOKUP, {"sid": sid}).one()
    found = fast_lookup.Lookup(LOOKUP).first(engine, sid=sid)
    assert tuple(found) == tuple(expected)
    assert found.amr == ["pwd", "otp", "mfa"] and found.auth_time.tzinfo is not None
    assert found.is_active is True and found.email == "alice@example.com"


def test_no_row_is_none_and_nothing_is_left_open(services, sid):  # noqa: ARG001
    lookup = fast_lookup.Lookup(LOOKUP)
    assert lookup.first(services.database.engine, sid="nobody") is None
    assert services.database.engine.pool.checkedout() == 0


def test_a_failing_lookup_closes_its_connection_instead_of_pooling_it(services):
    used = []
    fast_lookup.listeners.append(lambda sql, driver: used.append(driver))
    try:
        broken = fast_lookup.Lookup(sa.select(sa.column("nothing")).select_from(sa.table("no_such_table")))
        with pytest.raises(sa.exc.DBAPIError) as raised:     # as SQLAlchemy's own execution fails
            broken.first(services.database.engine)
        assert isinstance(raised.value.orig, sqlite3.Error | psycopg.Error)
    finally:
        fast_lookup.listeners.pop()
    assert services.database.engine.pool.checkedout() == 0
    assert _closed(used[0])


def _closed(driver) -> bool:  # noqa: ANN001
    if isinstance(driver, sqlite3.Connection):
        try:
            driver.execute("SELECT 1")
        except sqlite3.ProgrammingError:
            return True
        return False
    return driver.closed


SESSION_AND_USER = fast_lookup.EntityLookup(
    (BrowserSession, User, Organisation),
    lambda columns: columns.select_from(BrowserSession).join(User, User.id == BrowserSession.user_id)
    .join(Organisation, Organisation.id == User.organisation_id).where(BrowserSession.sid == sa.bindparam("sid")))


def _statements(services):  # noqa: ANN001, ANN202
    from tests.web.test_signin_queries import counted
    return counted(services)


def test_entities_come_back_as_the_orm_loads_them(services, sid):
    with services.database.session() as db:
        expected = db.scalar(sa.select(BrowserSession).where(BrowserSession.sid == sid))
        expected_values = {c.key: getattr(expected, c.key) for c in sa.inspect(BrowserSession).column_attrs}
        expected_user = {c.key: getattr(expected.user, c.key) for c in sa.inspect(User).column_attrs}
    with services.database.session() as db, _statements(services) as statements:
        found, user, organisation = SESSION_AND_USER.first_in(db, sid=sid)
        assert len(statements) == 1                                     # the lookup only
        assert {c.key: getattr(found, c.key) for c in sa.inspect(BrowserSession).column_attrs} == expected_values
        assert {c.key: getattr(user, c.key) for c in sa.inspect(User).column_attrs} == expected_user
        assert found.user is user and user.organisation is organisation   # linked, no query
        assert found in db and not (db.new or db.dirty)                   # as loaded: nothing to flush
        assert len(statements) == 1
        db.flush()
        assert len(statements) == 1


def test_what_the_lookup_did_not_bring_loads_when_read(services, sid):
    with services.database.session() as db:
        user = db.scalar(sa.select(User))
        db.add(UserGroup(user_id=user.id, name="field-engineers"))
    with services.database.session() as db, _statements(services) as statements:
        _, user, _ = SESSION_AND_USER.first_in(db, sid=sid)
        assert user.group_names == frozenset({"field-engineers"})
        assert len(statements) == 2 and "user_group" in statements[1]    # the collection alone


def test_an_instance_the_session_holds_is_kept(services, sid):
    with services.database.session() as db:
        held = db.scalar(sa.select(User))
        held.name = "Changed, not flushed"
        with db.no_autoflush:
            _, user, _ = SESSION_AND_USER.first_in(db, sid=sid)
        assert user is held and user.name == "Changed, not flushed"
        db.rollback()


def test_no_row_is_none(services, sid):  # noqa: ARG001
    with services.database.session() as db:
        assert SESSION_AND_USER.first_in(db, sid="nobody") is None


def _branded(services, logo: bytes) -> int:  # noqa: ANN001
    with services.database.session() as db:
        organisation = db.scalar(sa.select(Organisation))
        db.add(OrganisationBranding(organisation_id=organisation.id, display_name="Acme", logo_png=logo,
                                    logo_digest="d" * 64, updated_at=datetime.now(UTC)))
        return organisation.id


BRANDING_AND_ORGANISATION = fast_lookup.EntityLookup(
    (OrganisationBranding, Organisation),
    lambda columns: columns.add_columns(sa.literal("extra", sa.String)).select_from(OrganisationBranding)
    .join(Organisation, Organisation.id == OrganisationBranding.organisation_id)
    .where(OrganisationBranding.organisation_id == sa.bindparam("organisation_id")))


def test_a_deferred_column_is_not_read_and_loads_when_used(services, sid):  # noqa: ARG001
    organisation_id = _branded(services, b"\x89PNG logo bytes")
    with services.database.session() as db, _statements(services) as statements:
        branding, organisation, extra = BRANDING_AND_ORGANISATION.first_in(db, organisation_id=organisation_id)
        assert "logo_png" not in statements[0]
        assert (branding.display_name, organisation.id, extra) == ("Acme", organisation_id, "extra")
        assert branding.logo_png == b"\x89PNG logo bytes"                  # loaded now, on its own
        assert len(statements) == 2 and "logo_png" in statements[1]


def test_every_row_comes_back_with_its_own_columns(services, sid):  # noqa: ARG001
    organisation_id = _branded(services, b"logo")
    with services.database.session() as db:
        rows = BRANDING_AND_ORGANISATION.all_in(db, organisation_id=organisation_id)
        assert [(b.display_name, o.id, extra) for b, o, extra in rows] == [("Acme", organisation_id, "extra")]
        assert BRANDING_AND_ORGANISATION.all_in(db, organisation_id=organisation_id + 1000) == []


# --- Statement: a write on the session's connection ------------------------------------------------------

RENAME = fast_lookup.Statement(
    sa.update(User).where(User.email == sa.bindparam("email")).values(name=sa.bindparam("name"))
    .returning(User.name, User.created_at, User.is_active))
SESSION_SEEN = fast_lookup.Statement(
    sa.update(BrowserSession).where(BrowserSession.sid == sa.bindparam("sid"))
    .values(last_seen_at=sa.bindparam("at"), amr=sa.bindparam("amr")))


def test_a_write_sends_values_as_sqlalchemy_would_and_stays_in_the_transaction(services, sid):
    at = datetime(2026, 12, 7, 5, 6, 7, 891011, tzinfo=UTC)
    with services.database.session() as db:
        assert SESSION_SEEN.rowcount_in(db, sid=sid, at=at, amr=["pwd", "hwk"]) == 1
        assert SESSION_SEEN.rowcount_in(db, sid="nobody", at=at, amr=[]) == 0
        db.rollback()                                                      # nothing was committed
        assert db.scalar(sa.select(BrowserSession.amr).where(BrowserSession.sid == sid)) == ["pwd", "otp", "mfa"]
        SESSION_SEEN.rowcount_in(db, sid=sid, at=at, amr=["pwd", "hwk"])
    with services.database.session() as db:
        row = db.scalar(sa.select(BrowserSession).where(BrowserSession.sid == sid))
        assert row.last_seen_at == at and row.amr == ["pwd", "hwk"]        # read back through the ORM


def test_returning_rows_come_back_as_sqlalchemy_returns_them(services, sid):  # noqa: ARG001
    with services.database.session() as db:
        expected_created = db.scalar(sa.select(User.created_at))
        rows = RENAME.rows_in(db, email="alice@example.com", name="Alice B.")
        assert [tuple(row) for row in rows] == [("Alice B.", expected_created, True)]
        assert rows[0].created_at.tzinfo is not None
        assert RENAME.rows_in(db, email="nobody@example.com", name="x") == []


def test_a_write_leaves_pending_changes_pending_a_lookup_flushes_them(services, sid):
    with services.database.session() as db:
        user = db.scalar(sa.select(User))
        user.name = "Pending"
        RENAME.rows_in(db, email="nobody@example.com", name="x")
        assert user in db.dirty                                            # as a Core statement: left pending
        fast_lookup.Lookup(LOOKUP).first_in(db, sid=sid)
        assert not db.dirty                                                # as an ORM query: flushed first
        db.rollback()


def test_a_statement_that_needs_a_python_side_default_is_refused(services):
    needs_default = fast_lookup.Statement(Token.__table__.insert().values(scope=sa.bindparam("scope")))
    with services.database.session() as db, pytest.raises(ValueError, match="column defaults"):
        needs_default.rowcount_in(db, scope="openid")


def test_detached_entities_are_read_only_and_never_load_silently(services, sid):
    lookup = fast_lookup.EntityLookup((BrowserSession, User, Organisation), lambda columns: columns.select_from(BrowserSession)
                                      .join(User, User.id == BrowserSession.user_id)
                                      .join(Organisation, Organisation.id == User.organisation_id)
                                      .where(BrowserSession.sid == sa.bindparam("sid")),
                                      detached=(BrowserSession, Organisation))
    with services.database.session() as db:
        found, user, organisation = lookup.first_in(db, sid=sid)
        assert user in db and found not in db and organisation not in db
        assert found.sid == sid and found.user is user and user.organisation is organisation
        with pytest.raises(DetachedInstanceError):
            organisation.domains  # noqa: B018 - a relationship the row did not bring


def test_a_parameter_without_a_type_is_refused(services):
    rows = [{name: sa.bindparam(f"{name}{i}") for name in ("key", "window_start", "count", "expires_at")}
            for i in range(2)]                       # SQLAlchemy types only the first row's parameters
    untyped = fast_lookup.Statement(sa.insert(RateLimitBucket.__table__).values(rows))
    at = datetime(2026, 12, 7, tzinfo=UTC)
    with services.database.session() as db, pytest.raises(ValueError, match="no type"):
        untyped.rowcount_in(db, key0="a", window_start0=1, count0=1, expires_at0=at,
                            key1="b", window_start1=1, count1=1, expires_at1=at)


def test_an_unknown_parameter_is_refused_not_dropped(services, sid):
    with services.database.session() as db, pytest.raises(TypeError, match="no such parameter: nmae"):
        RENAME.rows_in(db, email="alice@example.com", name="Alice", nmae="typo")


def test_an_instance_the_session_holds_keeps_its_relationships(services, sid):
    lookup = fast_lookup.EntityLookup((BrowserSession, User, Organisation), lambda columns: columns
                                      .select_from(BrowserSession).join(User, User.id == BrowserSession.user_id)
                                      .join(Organisation, Organisation.id == User.organisation_id)
                                      .where(BrowserSession.sid == sa.bindparam("sid")), detached=(Organisation,))
    with services.database.session() as db:
        held = db.scalar(sa.select(User))
        own_organisation = held.organisation
        _, user, organisation = lookup.first_in(db, sid=sid)
        assert user is held and user.organisation is own_organisation and organisation is not own_organisation


def test_a_lookup_that_cannot_connect_fails_as_sqlalchemy_would(tmp_path):
    from idp.config import DatabaseConfig
    from idp.db import create_engine

    unreachable = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path}/missing-dir/x.db"))
    (tmp_path / "missing-dir").rmdir()            # created by create_engine; gone before the first connect
    try:
        with pytest.raises(sa.exc.OperationalError):
            fast_lookup.Lookup(LOOKUP).first(unreachable, sid="x")
    finally:
        unreachable.dispose()
