"""One lock order for the user's row and the audit chain head on a federated sign-in too (PostgreSQL): the
callback records `federated_sign_in` before the sign-in completes, so it locks the user's row first. Before,
for an account that already had its upstream identity, nothing wrote the user's row before that entry, and
an administrator disabling the account (user row, then audit head) deadlocked against the sign-in (audit
head, then user row). Found by the attacker review of stop 22; compare tests/hardening/test_lock_order.py."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

import idp.audit
from idp.models import BrowserSession, User
from tests.federation.helpers import authorize, choose, upstream_password
from tests.hardening.test_lock_order import administrator
from tests.support.pg_locks import hold, race

EMAIL = "ann@sso.example.com"


def test_disabling_an_account_while_it_signs_in_through_a_provider_waits_and_wins(
        browsers, rp, upstream, services, is_postgres, monkeypatch):  # noqa: ANN001
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite serialises whole transactions")
    upstream.user(EMAIL, name="Ann Upstream")
    first = browsers(upstream.url)          # the first sign-in creates the account and its upstream identity
    done = upstream_password(first, choose(first, authorize(first, rp).page, "up-sso"), EMAIL)
    assert done.location and done.location.startswith(rp.redirect_uri), done.text[:2000]

    web = browsers(upstream.url)
    page = choose(web, authorize(web, rp).page, "up-sso")
    # the callback (served in a thread of its own) holds the audit head and the transaction row until it commits
    held = hold(monkeypatch, idp.audit, "record", after=True, thread=None,
                when=lambda db, event, *args, **kwargs: event == "federated_sign_in"
                and kwargs.get("outcome", "success") == "success")

    def sign_in() -> int:
        reply = upstream_password(web, page, EMAIL)
        return reply.status if not reply.location else 302

    assert race(services.database.engine, held, sign_in, administrator(services, email=EMAIL)) == (302, "done")
    with services.database.session() as db:
        assert db.scalar(sa.select(User.is_active).where(User.email == EMAIL)) is False
        assert all(row.ended_at is not None for row in db.scalars(sa.select(BrowserSession)))
