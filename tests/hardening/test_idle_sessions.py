"""Issue 13: a browser session that was not used for `[login] session_idle_minutes` (30) is over: prompt=none
answers login_required, Profile > Security and Administration ask to sign in again. Use keeps it alive (the
last-activity time is written at most once a minute); the 12-hour absolute limit still holds."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from idp.models import BrowserSession
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair

from .helpers import start

EMAIL = "alice@example.com"


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


@pytest.fixture
def signed_in_browser(browser, factory, rp, frozen_clock):  # noqa: ANN001, ANN201
    factory.user(EMAIL)
    page, _ = start(browser, rp)
    assert page.location and "code=" in page.location, page.text[:500]
    return browser


def silent(browser, rp) -> dict[str, list[str]]:  # noqa: ANN001
    _, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge, prompt="none"))
    assert page.location and page.location.startswith(rp.redirect_uri), page.text[:500]
    return parse_qs(urlsplit(page.location).query)


def on_security_page(browser) -> bool:  # noqa: ANN001
    page = browser.open("/account/security")
    return page.status == 200 and 'name="password"' not in page.text


def test_an_idle_session_gives_no_silent_code(signed_in_browser, rp, frozen_clock):
    frozen_clock.advance(minutes=31)
    assert silent(signed_in_browser, rp).get("error") == ["login_required"]


def test_use_keeps_the_session_alive(signed_in_browser, rp, frozen_clock):
    for _ in range(4):                       # 4 x 25 minutes: never 30 idle
        frozen_clock.advance(minutes=25)
        assert "code" in silent(signed_in_browser, rp)
        assert on_security_page(signed_in_browser)


def test_the_absolute_limit_still_holds(signed_in_browser, rp, frozen_clock):
    for _ in range(12 * 3):                  # busy for 12 hours
        frozen_clock.advance(minutes=20)
        silent(signed_in_browser, rp)
    assert silent(signed_in_browser, rp).get("error") == ["login_required"]


def test_profile_security_needs_a_new_sign_in_after_idling(signed_in_browser, frozen_clock):
    assert on_security_page(signed_in_browser)
    frozen_clock.advance(minutes=31)
    assert not on_security_page(signed_in_browser)


def test_activity_is_written_at_most_once_a_minute(signed_in_browser, rp, services, frozen_clock):
    def last_seen():  # noqa: ANN202
        with services.database.session() as db:
            return db.scalar(sa.select(BrowserSession.last_seen_at).where(BrowserSession.ended_at.is_(None)))

    before = last_seen()
    frozen_clock.advance(seconds=30)
    silent(signed_in_browser, rp)
    assert last_seen() == before
    frozen_clock.advance(seconds=40)
    silent(signed_in_browser, rp)
    assert last_seen() == frozen_clock.current


def test_profile_security_shows_when_an_idle_browser_is_signed_out(signed_in_browser, frozen_clock):
    page = signed_in_browser.open("/account/security")
    ends = frozen_clock.current + timedelta(minutes=30)
    assert f'signed out if idle at <time datetime="{ends.isoformat()}">' in page.text, page.text


class TestShorterIdleLimit:
    @pytest.fixture
    def config_overrides(self) -> dict:
        return {"login": {"session_idle_minutes": 5}}

    def test_the_setting_is_used(self, signed_in_browser, rp, frozen_clock):
        frozen_clock.advance(minutes=4)
        assert "code" in silent(signed_in_browser, rp)
        frozen_clock.advance(minutes=6)
        assert silent(signed_in_browser, rp).get("error") == ["login_required"]


def test_admin_console_needs_a_new_sign_in_after_idling(browser, factory, frozen_clock):
    factory.user("root@example.com", admin=True)
    page = browser.sign_in(browser.open("/admin/"), "root@example.com", PASSWORD)
    admin = browser.open("/admin/")
    assert admin.status == 200 and 'name="password"' not in admin.text, page.text[:500]
    frozen_clock.advance(minutes=31)
    again = browser.open("/admin/")
    assert 'name="password"' in again.text or again.status in (302, 401, 403)
