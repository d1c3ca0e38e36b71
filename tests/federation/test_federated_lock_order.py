"""One lock order for the user's row and the audit chain head on a federated sign-in too (PostgreSQL): the
callback records `federated_sign_in` before the sign-in completes, so it locks the user's row first. Before,
for an account that already had its upstream identity, nothing wrote the user's row before that entry, and
an administrator disabling the account (user row, then audit head) deadlocked against the sign-in (audit
head, then user row). Found by the attacker review of stop 22; compare tests/hardening/test_lock_order.py."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

import idp.audit
from idp.administration import users as admin_users
from idp.administration.permissions import AdminScope
from idp.audit import Actor
from idp.clock import now
from idp.models import BrowserSession, User
from tests.federation.helpers import authorize, choose, upstream_password
from tests.support.pg_locks import until_someone_waits

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
    audited, go_on, outcome, armed = threading.Event(), threading.Event(), {}, {"on": True}
    record = idp.audit.record

    def pausing_record(db, event, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        entry = record(db, event, *args, **kwargs)
        if event == "federated_sign_in" and kwargs.get("outcome", "success") == "success" and armed.pop("on", None):
            audited.set()       # the callback holds the audit head (and the transaction row) until it commits
            go_on.wait(10)
        return entry

    monkeypatch.setattr(idp.audit, "record", pausing_record)

    def sign_in() -> None:
        try:
            reply = upstream_password(web, page, EMAIL)
            outcome["sign-in"] = reply.status if not reply.location else 302
        except Exception as exc:  # noqa: BLE001
            outcome["sign-in"] = type(exc).__name__

    def disable() -> None:
        try:
            with services.database.session() as db:
                user = db.scalar(sa.select(User).where(User.email == EMAIL))
                scope = AdminScope(organisation_id=user.organisation_id, permissions=frozenset(), system=True)
                admin_users.set_active(db, scope, user, False, "left the company", Actor("cli:test"), now=now())
            outcome["disable"] = "done"
        except Exception as exc:  # noqa: BLE001 - what the administrator would have seen
            outcome["disable"] = type(exc).__name__

    signing_in = threading.Thread(target=sign_in, name="sign-in")
    signing_in.start()
    assert audited.wait(15), "the federated sign-in never reached its audit entry"
    disabling = threading.Thread(target=disable, name="admin")
    disabling.start()
    engine = services.database.engine
    until_someone_waits(engine)
    go_on.set()
    signing_in.join(30)
    disabling.join(30)
    assert outcome == {"sign-in": 302, "disable": "done"}
    with services.database.session() as db:
        assert db.scalar(sa.select(User.is_active).where(User.email == EMAIL)) is False
        assert all(row.ended_at is not None for row in db.scalars(sa.select(BrowserSession)))
