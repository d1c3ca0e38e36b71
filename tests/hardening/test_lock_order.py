"""One lock order (PostgreSQL): a sign-in locks its login transaction, then its user's row, then the audit
chain head, and every administrator's action on that user takes them in the same order. The other order
deadlocks them: an administrator disabling an account while it signs in would see "temporarily unavailable"
and the account would stay active (found by reviews: of a change that wrote the user's row at commit, and of
the administrator's actions, which stopped the user's sign-ins only after changing the user)."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

import idp.audit
from idp.administration import users as admin_users
from idp.administration.permissions import AdminScope
from idp.audit import Actor
from idp.clock import now
from idp.factors import verification
from idp.models import BrowserSession, User
from tests.support.browser import Browser

from tests.support.factors import EMAIL, code_at, enrol_totp, rp  # noqa: F401 (fixture)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.pg_locks import someone_waits_for_a_lock, until_someone_waits

ACTIONS = {
    "disable": lambda db, services, scope, user: admin_users.set_active(
        db, scope, user, False, "left the company", Actor("cli:test"), now=now()),
    "reset 2FA": lambda db, services, scope, user: admin_users.reset_2fa(
        db, services, scope, user, "lost phone", Actor("cli:test"), now=now()),
}



def test_disabling_an_account_while_it_signs_in_waits_and_wins(app, client, browser, factory, rp, services,  # noqa: F811
                                                               is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite serialises whole transactions")
    factory.user(EMAIL)
    _, challenge = pkce_pair()
    form = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge)).form("password")
    audited, go_on, outcome = threading.Event(), threading.Event(), {}
    record = idp.audit.record

    def pausing_record(db, event, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        entry = record(db, event, *args, **kwargs)
        if event == "sign_in" and threading.current_thread().name == "sign-in":
            audited.set()       # the sign-in holds its locks, audit head included, until it commits
            go_on.wait(10)
        return entry

    monkeypatch.setattr(idp.audit, "record", pausing_record)

    def sign_in() -> None:
        reply = client.post("/login", data={**form.fields, "email": EMAIL, "password": PASSWORD})
        outcome["sign-in"] = reply.status_code

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
    assert audited.wait(10), "the sign-in never reached its audit entry"
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


@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_administrators_action_while_a_code_is_checked_waits_and_wins(app, factory, rp, services,  # noqa: F811
                                                                         is_postgres, monkeypatch, frozen_clock,
                                                                         action):
    """The sign-in holds its login transaction and is about to lock the user's row (the code check); the
    administrator's action must wait for the transaction, not lock the user's row first."""
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite serialises whole transactions")
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    client = app.test_client()
    browser = Browser(client=client)
    page = browser.sign_in(browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1])), EMAIL, PASSWORD)
    assert 'name="code"' in page.text
    fields = dict(page.form("code").fields)
    paused, go_on, outcome = threading.Event(), threading.Event(), {}
    gate = verification.gate

    def pausing_gate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if threading.current_thread().name == "sign-in" and not paused.is_set():
            paused.set()        # the login transaction is locked, the user's row not yet
            go_on.wait(10)
        return gate(*args, **kwargs)

    monkeypatch.setattr(verification, "gate", pausing_gate)

    def sign_in() -> None:
        try:
            outcome["sign-in"] = client.post("/login", data={**fields, "code": code_at(secret, frozen_clock)}).status_code
        except Exception as exc:  # noqa: BLE001
            outcome["sign-in"] = type(exc).__name__

    def administrator() -> None:
        try:
            with services.database.session() as db:
                user = db.scalar(sa.select(User).where(User.email == EMAIL))
                scope = AdminScope(organisation_id=user.organisation_id, permissions=frozenset(), system=True)
                ACTIONS[action](db, services, scope, user)
            outcome["admin"] = "done"
        except Exception as exc:  # noqa: BLE001 - what the administrator would have seen
            outcome["admin"] = type(exc).__name__

    signing_in = threading.Thread(target=sign_in, name="sign-in")
    signing_in.start()
    assert paused.wait(10)
    acting = threading.Thread(target=administrator, name="admin")
    acting.start()
    until_someone_waits(services.database.engine)
    go_on.set()
    signing_in.join(30)
    acting.join(30)
    assert outcome.get("admin") == "done", outcome
    with services.database.session() as db:
        assert all(row.ended_at is not None for row in db.scalars(sa.select(BrowserSession)))
