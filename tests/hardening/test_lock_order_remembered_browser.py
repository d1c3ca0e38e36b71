"""PostgreSQL: a sign-in that a remembered browser let skip the second factor inserts its session row (which
references the remembered browser) after the audit chain head is locked. "Forget this browser" (Profile >
Security: DELETE remembered_browser, then its audit entry) waits for it and wins: the sign-in's touch
(last_used_at) locks that row before the audit head."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

import idp.audit
from idp.audit import Actor
from idp.browser import remembered
from idp.models import BrowserSession, RememberedBrowser, User
from tests.recovery.test_remember_browser import (EMAIL, alice, password, remember_this_browser,  # noqa: F401
                                                  secret)
from tests.support.browser import Browser
from tests.support.factors import rp  # noqa: F401 (fixture)
from tests.support.pg_locks import hold, race


def test_forgetting_the_browser_while_it_signs_in_with_it_waits_and_wins(app, client, rp, secret, services,  # noqa: F811
                                                                         frozen_clock, is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("PostgreSQL only")
    browser = Browser(client=client)
    remember_this_browser(browser, rp, secret, frozen_clock)
    frozen_clock.advance(minutes=5)
    held = hold(monkeypatch, idp.audit, "record", after=True, when=lambda db, event, *args, **kwargs: event == "sign_in")

    def sign_in() -> int:
        page, _ = password(browser, rp)
        return 302 if page.location else page.status

    def forget() -> str:
        with services.database.session() as db:
            user = db.scalar(sa.select(User).where(User.email == EMAIL))
            row_id = db.scalar(sa.select(RememberedBrowser.id))
            assert remembered.forget(db, user, row_id)
            idp.audit.record(db, "remembered_browser_forgotten", Actor(f"user:{EMAIL}"),
                             organisation_id=user.organisation_id, target_user_id=user.id, target=EMAIL,
                             details={"remembered_browser_id": row_id})
        return "done"

    assert race(services.database.engine, held, sign_in, forget) == (302, "done")
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(RememberedBrowser.id))) == 0
        newest = db.scalar(sa.select(BrowserSession).order_by(BrowserSession.id.desc()))
        assert newest.remembered_browser_id is None        # ON DELETE SET NULL reached the new session
