"""One lock order (PostgreSQL): a sign-in locks its login transaction, then its user's row, then the audit
chain head, and every administrator's action on that user takes them in the same order. The other order
deadlocks them: an administrator disabling an account while it signs in would see "temporarily unavailable"
and the account would stay active (found by reviews: of a change that wrote the user's row at commit, and of
the administrator's actions, which stopped the user's sign-ins only after changing the user)."""
from __future__ import annotations

from collections.abc import Callable

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
from tests.support.pg_locks import hold, race

ACTIONS = {
    "disable": lambda db, services, scope, user: admin_users.set_active(
        db, scope, user, False, "left the company", Actor("cli:test"), now=now()),
    "reset 2FA": lambda db, services, scope, user: admin_users.reset_2fa(
        db, services, scope, user, "lost phone", Actor("cli:test"), now=now()),
}


def administrator(services, action: str = "disable", email: str = EMAIL) -> Callable[[], str]:  # noqa: ANN001
    """An administrator's action on the account, in a transaction of its own: "done" once committed."""
    def act() -> str:
        with services.database.session() as db:
            user = db.scalar(sa.select(User).where(User.email == email))
            scope = AdminScope(organisation_id=user.organisation_id, permissions=frozenset(), system=True)
            ACTIONS[action](db, services, scope, user)
        return "done"
    return act


def test_disabling_an_account_while_it_signs_in_waits_and_wins(app, client, browser, factory, rp, services,  # noqa: F811
                                                               is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite serialises whole transactions")
    factory.user(EMAIL)
    _, challenge = pkce_pair()
    form = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge)).form("password")
    # the sign-in holds its locks, audit head included, until it commits
    held = hold(monkeypatch, idp.audit, "record", after=True, when=lambda db, event, *args, **kwargs: event == "sign_in")

    def sign_in() -> int:
        return client.post("/login", data={**form.fields, "email": EMAIL, "password": PASSWORD}).status_code

    assert race(services.database.engine, held, sign_in, administrator(services)) == (302, "done")
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
    held = hold(monkeypatch, verification, "gate")      # the login transaction is locked, the user's row not yet

    def sign_in() -> int:
        return client.post("/login", data={**fields, "code": code_at(secret, frozen_clock)}).status_code

    _, acted = race(services.database.engine, held, sign_in, administrator(services, action))
    assert acted == "done"
    with services.database.session() as db:
        assert all(row.ended_at is not None for row in db.scalars(sa.select(BrowserSession)))
