"""The new browser session's row is inserted last (the sign-in's response ends with a flush); when that fails,
the sign-in changes nothing and the browser keeps its sign-in in progress (not a cookie naming a session that
was never stored)."""
from __future__ import annotations

import sqlalchemy as sa

from idp.browser import sessions
from idp.models import AuditEvent, BrowserSession, LoginTransaction
from tests.support.browser import Browser
from tests.support.factors import EMAIL, rp  # noqa: F401 (fixture)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair


def test_a_failing_session_insert_changes_nothing(app, factory, rp, services, monkeypatch):  # noqa: ANN001, F811
    factory.user(EMAIL)
    first = Browser(client=app.test_client())
    done = first.sign_in(first.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1])), EMAIL, PASSWORD)
    assert done.location.startswith(rp.redirect_uri)
    with services.database.session() as db:
        taken = db.scalar(sa.select(BrowserSession.sid))
    monkeypatch.setattr(sessions, "new_token", lambda n=32: taken)     # the INSERT meets the unique sid
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    second = Browser(client=client)
    page = second.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    cookie_before = client.get_cookie("idp_session").value
    try:      # note: the 500 page itself fails (idp.web.branding reads the failed session): pre-existing
        reply = client.post("/login", data={**page.form("password").fields, "email": EMAIL, "password": PASSWORD})
        assert reply.status_code >= 500
    except sa.exc.PendingRollbackError:
        pass
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(BrowserSession.id))) == 1
        assert db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.event == "sign_in")) == 1
        assert sorted(db.scalars(sa.select(LoginTransaction.status))) == ["active", "done"]
    assert client.get_cookie("idp_session").value == cookie_before     # the browser keeps its sign-in
