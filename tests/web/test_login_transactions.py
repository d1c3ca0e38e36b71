"""Login transactions in the database: back button, reload, a second tab, expiry, another browser —
each ends on a clear page, never a stack trace and never a skipped step."""
from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import sqlalchemy as sa

from idp.models import AuthorizationCode, LoginTransaction
from tests.support.browser import Browser
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair
from tests.web import pin_step  # noqa: F401  (registers the test_pin step type)

HERE = Path(__file__).parent


@pytest.fixture
def config_overrides(tmp_path):  # noqa: ANN001, ANN201
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "browser.toml").write_text(
        'description = "password then PIN"\n'
        '[[step]]\ntype = "password"\nrequirement = "required"\n'
        '[[step]]\ntype = "test_pin"\nrequirement = "required"\n')
    return {"policy": {"dir": str(tmp_path / "policies"), "reload_interval_seconds": 0.0}}


@pytest.fixture
def app(app):  # noqa: ANN001, ANN201
    app.jinja_loader = jinja2.ChoiceLoader([app.jinja_loader, jinja2.FileSystemLoader(str(HERE / "templates"))])
    return app


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    factory.user("alice@example.com")
    return factory.client()


def start(browser: Browser, rp) -> object:  # noqa: ANN001
    _, challenge = pkce_pair()
    return browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))


def codes_issued(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(AuthorizationCode.id)))


def test_reload_shows_the_current_step_and_back_button_cannot_skip(browser, rp, services):
    first = start(browser, rp)
    pin_page = browser.sign_in(first, "alice@example.com", PASSWORD)
    assert 'name="pin"' in pin_page.text
    assert 'name="pin"' in browser.open("/login").text           # reload: same step
    replay = browser.sign_in(first, "alice@example.com", PASSWORD)  # back button: the old password form again
    assert replay.status == 200 and 'name="pin"' in replay.text and "out of date" in replay.text
    assert codes_issued(services) == 0
    done = browser.submit(replay, "pin", {"pin": "2468"})
    assert done.location and done.location.startswith(rp.redirect_uri)


def test_wrong_answer_is_retried_and_nothing_is_issued(browser, rp, services):
    pin_page = browser.sign_in(start(browser, rp), "alice@example.com", PASSWORD)
    again = browser.submit(pin_page, "pin", {"pin": "0000"})
    assert "Wrong PIN." in again.text and codes_issued(services) == 0


def test_a_second_tab_replaces_the_first_and_the_old_tab_says_so(browser, rp, services):
    tab1 = start(browser, rp)
    tab2 = start(browser, rp)
    stale = browser.sign_in(tab1, "alice@example.com", PASSWORD)
    assert "another tab" in stale.text and 'name="password"' in stale.text
    with services.database.session() as db:
        assert all(tx.user_id is None for tx in db.scalars(sa.select(LoginTransaction)))
    assert 'name="pin"' in browser.sign_in(tab2, "alice@example.com", PASSWORD).text


def test_an_expired_transaction_ends_on_a_clear_page(browser, rp, frozen_clock, services):
    pin_page = browser.sign_in(start(browser, rp), "alice@example.com", PASSWORD)
    frozen_clock.advance(minutes=11)
    expired = browser.submit(pin_page, "pin", {"pin": "2468"})
    assert expired.status == 400 and "expired" in expired.text and "Start signing in again" in expired.text
    assert codes_issued(services) == 0


def test_another_browser_cannot_continue_the_sign_in(browser, app, rp, services):
    pin_page = browser.sign_in(start(browser, rp), "alice@example.com", PASSWORD)
    other = Browser(client=app.test_client())
    other.client.get("/login/restart")  # give it its own session cookie
    stranger = other.open("/login", "POST", {**pin_page.form("pin").fields, "pin": "2468"})
    assert stranger.status == 400 and "no sign-in in progress" in stranger.text.lower() or \
        stranger.status == 400
    assert codes_issued(services) == 0


def test_a_finished_transaction_cannot_be_replayed(browser, rp, services):
    pin_page = browser.sign_in(start(browser, rp), "alice@example.com", PASSWORD)
    assert browser.submit(pin_page, "pin", {"pin": "2468"}).location
    again = browser.submit(pin_page, "pin", {"pin": "2468"})
    assert again.status == 400 and codes_issued(services) == 1
