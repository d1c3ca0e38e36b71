"""Issue 13: Administration > user shows the account-wide wrong-password lock (new browsers locked out) and
"Unlock" lifts it for every client."""
from __future__ import annotations

import pytest

from idp.models import User
from idp.attempts import counters as attempts
from tests.support.browser import Browser
from tests.support.factory import PASSWORD

from .helpers import sign_in


@pytest.fixture
def acme_admin(browser, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    return browser


def test_the_lock_is_shown_and_unlock_lifts_it(app, acme_admin, orgs, services):
    with services.database.session() as db:
        user = db.get(User, orgs["acme"].user_id)
        email, attacker = user.email, attempts.Client(address="203.0.113.9", user_agent="AttackBot/6.6")
        for _ in range(services.config.lockout.password_max_failures):
            attempts.record_failure(db, services, "password", email, attacker, user=user)
    page = acme_admin.open(f"/admin/users/{orgs['acme'].user_id}")
    assert "New browsers locked out</strong> after 100 wrong passwords" in page.text
    done = acme_admin.submit(page, "reason", {"reason": "called the help desk"})
    assert "is unlocked" in done.text and "Not locked" in done.text
    stranger = Browser(client=app.test_client())
    page = stranger.sign_in(stranger.open("/login/restart"), email, PASSWORD)
    assert "paused" not in page.text
