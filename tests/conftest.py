"""Fixtures: a clean database per test (SQLite, or PostgreSQL via IDP_TEST_DATABASE_URL), real app, clock."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from idp import clock
from idp.app import create_app
from idp.migrate import ensure_default_organisation
from idp.oauth.keys import ensure_signing_keys
from idp.services import Services, build_services
from tests.support.browser import Browser
from tests.support.configs import TEST_KEK, make_config
from tests.support.databases import PostgresTestDatabase, SeedRows, SqliteTemplate, postgres_base_url
from tests.support.factory import Factory
from tests.support.routing import memoize_rule_builders

memoize_rule_builders()  # every test makes an app: its URL rules' builders are compiled once per run


def pytest_report_header(config) -> str:  # noqa: ANN001
    return f"database backend: {'PostgreSQL' if postgres_base_url() else 'SQLite'}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PostgresTestDatabase | None]:
    base = postgres_base_url()
    if not base:
        yield None
        return
    database = PostgresTestDatabase(base)
    try:
        database.create_schema()
        yield database
    finally:
        database.drop()


@pytest.fixture
def is_postgres(pg_database) -> bool:  # noqa: ANN001
    return pg_database is not None


@pytest.fixture(scope="session")
def seed_rows() -> SeedRows:
    return SeedRows(TEST_KEK)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory, seed_rows) -> SqliteTemplate:  # noqa: ANN001
    return SqliteTemplate(tmp_path_factory.mktemp("template"), seed_rows)


@pytest.fixture
def database_url(request, tmp_path, pg_database, seed_rows) -> str:  # noqa: ANN001
    """A clean, seeded database for this test."""
    if pg_database is not None:
        pg_database.clean(seed_rows)
        return pg_database.url
    return request.getfixturevalue("sqlite_template").copy_to(tmp_path)


@pytest.fixture
def config_overrides() -> dict:
    """Override in a test module or class to change the config (TOML-shaped dict)."""
    return {}


@pytest.fixture
def issuer() -> str:
    return "http://localhost"


@pytest.fixture
def config(database_url, config_overrides, issuer):  # noqa: ANN001, ANN201
    return make_config(database_url, issuer=issuer, **config_overrides)


@pytest.fixture
def services(config) -> Iterator[Services]:  # noqa: ANN001
    services = build_services(config)
    with services.database.session() as db:
        ensure_default_organisation(db)
        ensure_signing_keys(db, services.kek)
    yield services
    services.database.dispose()


@pytest.fixture
def app(config, services):  # noqa: ANN001, ANN201
    app = create_app(config, services)
    app.config["TESTING"] = True
    yield app
    # a test that served the app as a server does (app.testing = False) started this worker's outbox
    # drainer thread: stop it, or it sweeps the next test's database (PostgreSQL: the same database, emptied)
    app.extensions["idp.outbox"].stop()


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    return app.test_client()


@pytest.fixture
def browser(client) -> Browser:  # noqa: ANN001
    return Browser(client=client)


@pytest.fixture
def factory(services) -> Factory:  # noqa: ANN001
    return Factory(services)


class FrozenClock:
    """A controllable clock: `advance(minutes=...)` moves time for the app under test."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)

    def set(self, when: datetime) -> None:
        self.current = when


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    fake = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    clock.set_clock(fake)
    yield fake
    clock.set_clock(None)


@pytest.fixture(autouse=True)
def _no_stray_outbox_drainers(monkeypatch) -> Iterator[None]:  # noqa: ANN001
    """Every outbox drainer a test made (an app served as a server runs one thread) stops with the test:
    a thread left running sweeps the next test's database (on PostgreSQL the same database, emptied) and
    takes its jobs with the wrong configuration."""
    from idp.outbox import worker

    made: list[worker.Drainer] = []
    original = worker.Drainer.__init__

    def recording(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(worker.Drainer, "__init__", recording)
    yield
    for drainer in made:
        drainer.stop()
