"""Schema migrations (alembic, in ./migrations) and the first-run data every deployment needs."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from idp.clock import now
from idp.models import Organisation
from idp.oauth.keys import ensure_signing_keys
from idp.services import Services

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(services: Services) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = services.database.engine
    return config


def upgrade_database(services: Services) -> None:
    """Bring the schema to head, then seed the `default` organisation and one key per algorithm."""
    command.upgrade(alembic_config(services), "head")
    with services.database.session() as db:
        ensure_default_organisation(db)
        ensure_signing_keys(db, services.kek)


def ensure_default_organisation(db) -> Organisation:  # noqa: ANN001
    org = db.scalar(sa.select(Organisation).where(Organisation.slug == "default"))
    if org is None:
        org = Organisation(slug="default", name="Default organisation", created_at=now(), allowed_methods=[],
                           exempt_groups=[])
        db.add(org)
        db.flush()
    return org
