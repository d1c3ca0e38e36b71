"""Alembic environment: the engine comes from `idp db upgrade` (config.attributes["engine"])."""
from alembic import context

from idp.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    raise SystemExit("run migrations through `idp db upgrade`, which supplies the configured database")

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
