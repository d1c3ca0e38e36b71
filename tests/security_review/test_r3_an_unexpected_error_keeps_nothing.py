"""An unexpected error (500, "nothing was changed") keeps nothing: Flask still runs the after-request hooks
for the 500 it makes from an unhandled exception, and the request's unit of work was committed there, so a
sign-in whose answer to the application failed stood (transaction done, audit entry, a new browser session)
while the application got no answer and the request could not be resumed; the browser's cookie was rotated
to that session too. Found by the attacker review of stop 22."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import AuditEvent, BrowserSession, LoginTransaction
from tests.support.factors import EMAIL, rp  # noqa: F401 (fixture)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair


def test_an_error_while_answering_the_application_changes_nothing(app, client, browser, factory, rp,  # noqa: F811
                                                                   services, monkeypatch):
    factory.user(EMAIL)
    form = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1])).form("password")

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the authorization response could not be made")

    monkeypatch.setitem(app.extensions, "idp.answer_application", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    before = client.get_cookie("idp_session").value
    reply = client.post("/login", data={**form.fields, "email": EMAIL, "password": PASSWORD})
    assert reply.status_code == 500 and "nothing was changed" in reply.get_data(as_text=True)
    assert "Set-Cookie" not in reply.headers and client.get_cookie("idp_session").value == before
    with services.database.session() as db:
        statuses = list(db.scalars(sa.select(LoginTransaction.status)))
        sessions = db.scalar(sa.select(sa.func.count(BrowserSession.id)))
        sign_ins = db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.event == "sign_in"))
    assert (statuses, sessions, sign_ins) == (["active"], 0, 0), "the failed request's sign-in was committed"
