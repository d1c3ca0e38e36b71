"""Security review F-07 (fixed): the administrator's re-proof before "Reset Two-Factor Authentication" is
bound to the browser session: a stale admin session does not become "freshly proved" because the real
administrator used their authenticator in another browser."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.models import Organisation, SecondFactor, User
from tests.admin.helpers import add_totp, code_for, csrf_token, post, sign_in, totp_secret
from tests.support.browser import Browser
from tests.admin.conftest import mailbox, orgs  # noqa: F401 (fixtures)


@pytest.fixture
def victim(orgs, services, frozen_clock) -> None:  # noqa: ANN001
    with services.database.session() as db:
        org = db.get(Organisation, orgs["acme"].id)
        org.enforced_since = frozen_clock.current - timedelta(days=60)
        user = db.get(User, orgs["acme"].user_id)
        user.created_at = frozen_clock.current - timedelta(days=90)
        add_totp(db, services, user)


def test_stale_admin_session_is_not_refreshed_by_a_sign_in_elsewhere(app, browser, orgs, victim, services, mailbox,
                                                                     frozen_clock):
    acme = orgs["acme"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)   # the attacker's copy of this session
    frozen_clock.advance(minutes=30)                                       # long stale
    token = csrf_token(browser)
    # the real administrator signs in on their own computer with their authenticator
    sign_in(Browser(client=app.test_client()), acme.admin, services=services, frozen=frozen_clock)
    post(browser, f"/admin/users/{acme.user_id}/reset-2fa",
                 {"reason": "attacker", "confirm_reset": "yes"}, token)
    with services.database.session() as db:
        left = db.scalar(sa.select(sa.func.count(SecondFactor.id)).where(SecondFactor.user_id == acme.user_id))
    # The secure behaviour: the 30-minute-old session still has to prove it is the admin; nothing is reset.
    assert left == 1, "a stale admin session reset another user's 2FA without proving anything"
