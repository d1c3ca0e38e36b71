"""PostgreSQL: a sign-in that a remembered browser let skip the second factor inserts its session row (which
references the remembered browser) after the audit chain head is locked. "Forget this browser" (Profile >
Security: DELETE remembered_browser, then its audit entry) waits for it and wins: the sign-in's touch
(last_used_at) locks that row before the audit head."""
from __future__ import annotations

import threading
import time

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
from tests.support.pg_locks import someone_waits_for_a_lock, until_someone_waits



def test_forgetting_the_browser_while_it_signs_in_with_it_waits_and_wins(app, client, rp, secret, services,  # noqa: F811
                                                                         frozen_clock, is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("PostgreSQL only")
    browser = Browser(client=client)
    remember_this_browser(browser, rp, secret, frozen_clock)
    frozen_clock.advance(minutes=5)
    audited, go_on, outcome = threading.Event(), threading.Event(), {}
    record = idp.audit.record

    def pausing_record(db, event, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        entry = record(db, event, *args, **kwargs)
        if event == "sign_in" and threading.current_thread().name == "sign-in":
            audited.set()
            go_on.wait(10)
        return entry

    monkeypatch.setattr(idp.audit, "record", pausing_record)

    def sign_in() -> None:
        try:
            page, _ = password(browser, rp)
            outcome["sign-in"] = 302 if page.location else page.status
        except Exception as exc:  # noqa: BLE001
            outcome["sign-in"] = type(exc).__name__

    def forget() -> None:
        try:
            with services.database.session() as db:
                user = db.scalar(sa.select(User).where(User.email == EMAIL))
                row_id = db.scalar(sa.select(RememberedBrowser.id))
                assert remembered.forget(db, user, row_id)
                idp.audit.record(db, "remembered_browser_forgotten", Actor(f"user:{EMAIL}"),
                                 organisation_id=user.organisation_id, target_user_id=user.id, target=EMAIL,
                                 details={"remembered_browser_id": row_id})
            outcome["forget"] = "done"
        except Exception as exc:  # noqa: BLE001
            outcome["forget"] = type(exc).__name__

    signing_in = threading.Thread(target=sign_in, name="sign-in")
    signing_in.start()
    assert audited.wait(10)
    forgetting = threading.Thread(target=forget, name="forget")
    forgetting.start()
    until_someone_waits(services.database.engine)
    go_on.set()
    signing_in.join(30)
    forgetting.join(30)
    assert outcome == {"sign-in": 302, "forget": "done"}
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(RememberedBrowser.id))) == 0
        newest = db.scalar(sa.select(BrowserSession).order_by(BrowserSession.id.desc()))
        assert newest.remembered_browser_id is None        # ON DELETE SET NULL reached the new session
