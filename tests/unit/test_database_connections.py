"""PostgreSQL connections as idp.db makes them: a connect timeout, and no GSSAPI (Kerberos) encryption attempt
unless the database URL asks for one (libpq's default would initialise Kerberos for every connection)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.config import DatabaseConfig
from idp.db import create_engine
from tests.support.databases import postgres_base_url

pytestmark = pytest.mark.skipif(postgres_base_url() is None, reason="PostgreSQL connections: needs the server")


def _options(url: str) -> dict[bytes, bytes | None]:
    engine = create_engine(DatabaseConfig(url=url))
    try:
        connection = engine.raw_connection()
        try:
            return {option.keyword: option.val for option in connection.driver_connection.pgconn.info}
        finally:
            connection.close()
    finally:
        engine.dispose()


def test_connections_time_out_and_do_not_try_kerberos():
    options = _options(postgres_base_url())
    assert (options[b"connect_timeout"], options[b"gssencmode"]) == (b"5", b"disable")


def test_a_url_that_asks_for_gssapi_encryption_gets_it_tried():
    url = sa.make_url(postgres_base_url()).update_query_dict({"gssencmode": "prefer"})
    options = _options(url.render_as_string(hide_password=False))
    assert options[b"gssencmode"] == b"prefer"
