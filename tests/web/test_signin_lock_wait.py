"""A sign-in POST that waits for its login transaction's row lock (another request of the same sign-in holds it)
sees what an administrator committed meanwhile: the client and the user are read after the lock, never from
the statement that waited (READ COMMITTED re-reads only the locked row). PostgreSQL only: SQLite serialises
whole transactions (BEGIN IMMEDIATE), so its reads always come after the lock. (Disabling the user fails the
user's sign-ins in progress, idp.administration.users, an UPDATE that takes the same row lock.)"""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tests.support.browser import Browser
from tests.support.factors import EMAIL, code_at, enrol_totp, rp, start  # noqa: F401 (fixture)
from tests.support.pg_locks import until_someone_waits

CHANGES = {
    "client disabled": "UPDATE oauth_client SET is_active = false WHERE client_id = :client_id",
    "redirect URI withdrawn": "UPDATE oauth_client SET redirect_uris = '[\"https://new.example/cb\"]' "
                              "WHERE client_id = :client_id",
}


@pytest.fixture
def config_overrides() -> dict:
    return {"rate_limit": {"enabled": False}}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_committed_during_the_wait_counts(app, factory, rp, services, frozen_clock, is_postgres,  # noqa: F811
                                                   change):
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite serialises whole transactions")
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    browser = Browser(client=app.test_client())
    page, _ = start(browser, rp)
    assert 'name="code"' in page.text
    engine = services.database.engine
    with engine.connect() as holder:          # another request of this sign-in holds the row
        holder.execute(sa.text("SELECT id FROM login_transaction WHERE status = 'active' FOR UPDATE"))
        answered: dict = {}
        post = threading.Thread(target=lambda: answered.setdefault(
            "page", browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})))
        post.start()
        assert until_someone_waits(engine), "the POST never waited for the row lock"
        with engine.begin() as admin:
            admin.execute(sa.text(CHANGES[change]), {"client_id": rp.client_id})
        holder.commit()
    post.join(30)
    location = answered["page"].location or ""
    assert not (location.startswith(rp.redirect_uri) and "code=" in location), \
        f"{change}: a code went to the application as it was before the wait"
