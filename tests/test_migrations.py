"""`idp db upgrade` builds exactly the schema the models describe, on SQLite and PostgreSQL, and is re-runnable."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idp.migrate import upgrade_database
from idp.models import Base, Organisation, SigningKey
from idp.services import build_services
from tests.support.configs import make_config
from tests.support.databases import postgres_base_url


def _fresh_url(tmp_path) -> tuple[str, callable]:  # noqa: ANN001
    base = postgres_base_url()
    if not base:
        return f"sqlite:///{tmp_path / 'migrated.db'}", lambda: None
    admin_url = sa.make_url(base)
    name = f"idp_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def test_upgrade_matches_models_and_seeds_defaults(tmp_path):
    url, drop = _fresh_url(tmp_path)
    try:
        services = build_services(make_config(url))
        upgrade_database(services)
        upgrade_database(services)  # a second run changes nothing and does not fail
        with services.database.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations differ; run alembic revision --autogenerate: {diff}"
        with services.database.session() as db:
            assert db.scalar(sa.select(sa.func.count(Organisation.id))) == 1
            assert sorted(db.scalars(sa.select(SigningKey.alg))) == ["ES256", "RS256"]
        services.database.dispose()
    finally:
        drop()
