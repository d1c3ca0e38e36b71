"""A request that fails unexpectedly (500) keeps nothing, except a wrong secret it counted: the second-factor
lockout count and its audit entry, the wrong-password counters, a code challenge's attempts. Otherwise an
error provoked after the comparison would buy guesses that never count towards the lock. Found by the second
attacker review of stop 22 (the first version of "a 500 keeps nothing" rolled the count back)."""
from __future__ import annotations

import sqlalchemy as sa

from idp.factors import lockout
from idp.models import AuditEvent, User
from tests.hardening.helpers import EMAIL, at_the_code_page
from tests.support.factors import code_at, enrol_totp, rp  # noqa: F401 (fixture)


def test_a_wrong_code_whose_request_fails_still_counts_towards_the_lock(app, factory, rp, services,  # noqa: F811
                                                                       frozen_clock, monkeypatch):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client, fields, _ = at_the_code_page(app, rp)
    original = lockout.record_failure

    def failing_after(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        original(*args, **kwargs)
        raise RuntimeError("a later step fails")

    monkeypatch.setattr(lockout, "record_failure", failing_after)
    wrong = f"{(int(code_at(secret, frozen_clock)) + 7) % 1_000_000:06d}"
    reply = client.post("/login", data={**fields, "code": wrong})
    assert reply.status_code == 500
    with services.database.session() as db:
        failures = db.scalar(sa.select(User.otp_failures).where(User.email == EMAIL))
        audited = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                            .where(AuditEvent.event == "second_factor_failure"))
    assert (failures, audited) == (1, 1), "a checked wrong code left no count and no audit entry"


def test_a_wrong_password_whose_request_fails_still_counts(app, factory, rp, services, frozen_clock,  # noqa: F811
                                                           monkeypatch):
    from idp.attempts import counters
    from idp.models import AttemptCounter
    from tests.support.browser import Browser
    from tests.support.oidc import authorize_url, pkce_pair

    factory.user(EMAIL)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    original = counters.record_failure

    def failing_after(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        original(*args, **kwargs)
        raise RuntimeError("a later step fails")

    monkeypatch.setattr(counters, "record_failure", failing_after)
    browser = Browser(client=app.test_client())
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    assert browser.sign_in(page, EMAIL, "not the password").status == 500
    with services.database.session() as db:
        counted = db.scalar(sa.select(sa.func.max(AttemptCounter.failures)))
    assert counted == 1, "a checked wrong password left no count"
