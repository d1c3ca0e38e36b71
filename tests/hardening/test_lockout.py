"""Issue 13: wrong passwords are limited per account AND per client (network address, signed device cookie),
so an attacker who knows an email address cannot keep its owner out (OWASP "device cookies"), while the
account-wide limit (NIST SP 800-63B 5.2.2: at most 100 consecutive failures) still stops guessing from
anywhere new. The owner is told by email when an account-wide limit is reached."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.admin.helpers import FakeMailer
from tests.support.browser import Browser, Page
from tests.support.factory import PASSWORD

EMAIL = "alice@example.com"
OWNER_HOME, OWNER_TRAVEL, ATTACKER = "198.51.100.7", "192.0.2.44", "203.0.113.9"
LOCKED = "Sign-ins to this account from browsers it was not used in before are paused"


@pytest.fixture
def config_overrides() -> dict:
    return {"rate_limit": {"enabled": False}}


@pytest.fixture
def mailer(services) -> FakeMailer:  # noqa: ANN001
    services.mailer = FakeMailer()
    return services.mailer


def browser_at(app, address: str, user_agent: str = "OwnerBrowser/1.0") -> Browser:  # noqa: ANN001
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address, HTTP_USER_AGENT=user_agent)
    return Browser(client=client)


def move(browser: Browser, address: str) -> None:
    """The same browser (its cookies) on another network."""
    browser.client.environ_base["REMOTE_ADDR"] = address


def attempt(browser: Browser, password: str, email: str = EMAIL) -> Page:
    return browser.sign_in(browser.open("/login/restart"), email, password)


def signed_in(browser: Browser) -> bool:
    page = browser.open("/account/security")
    return page.status == 200 and 'name="password"' not in page.text


def hammer(app, times: int, address: str = ATTACKER, clock=None) -> Page:  # noqa: ANN001
    """`times` wrong passwords from a fresh browser at `address` (waiting out every pause when `clock`)."""
    attacker = browser_at(app, address, "AttackBot/6.6")
    page = None
    for i in range(times):
        if clock is not None:
            clock.advance(minutes=16)
        page = attempt(attacker, f"wrong-{i}")
    return page


def without_values(html: str) -> str:
    """The page without form values (the typed address, the CSRF token and the transaction differ)."""
    return re.sub(r'value="[^"]*"', 'value=""', html)


def test_the_owner_s_browser_signs_in_while_an_attacker_hammers_the_account(app, factory, frozen_clock):
    factory.user(EMAIL)
    owner = browser_at(app, OWNER_HOME)
    attempt(owner, PASSWORD)
    assert signed_in(owner)
    hammer(app, 30)
    move(owner, OWNER_TRAVEL)                  # not the address it signed in from: only the device cookie counts
    page = attempt(owner, PASSWORD)
    assert signed_in(owner), page.text


def test_the_hard_limit_stops_new_clients_but_not_the_owner(app, factory, frozen_clock, mailer):
    factory.user(EMAIL)
    owner = browser_at(app, OWNER_HOME)
    attempt(owner, PASSWORD)
    page = hammer(app, 100, clock=frozen_clock)
    assert LOCKED in page.text
    stranger = browser_at(app, "192.0.2.200")           # a new browser on a new network, right password
    page = attempt(stranger, PASSWORD)
    assert LOCKED in page.text and not signed_in(stranger)
    frozen_clock.advance(days=30)                      # the lock does not wear off
    assert LOCKED in attempt(stranger, PASSWORD).text
    move(owner, OWNER_TRAVEL)
    attempt(owner, PASSWORD)
    assert signed_in(owner)


def test_an_address_the_owner_signed_in_from_is_trusted(app, factory, frozen_clock):
    factory.user(EMAIL)
    attempt(browser_at(app, OWNER_HOME), PASSWORD)
    hammer(app, 30)
    other_browser = browser_at(app, OWNER_HOME)         # no device cookie, but a known address
    attempt(other_browser, PASSWORD)
    assert signed_in(other_browser)


class TestWithoutTrustedAddresses:
    @pytest.fixture
    def config_overrides(self) -> dict:
        return {"rate_limit": {"enabled": False}, "lockout": {"trust_known_addresses": False}}

    def test_a_known_address_alone_is_not_enough(self, app, factory, frozen_clock):
        factory.user(EMAIL)
        attempt(browser_at(app, OWNER_HOME), PASSWORD)
        hammer(app, 30)
        other_browser = browser_at(app, OWNER_HOME)
        page = attempt(other_browser, PASSWORD)
        assert "wait" in page.text and not signed_in(other_browser)


def test_untrusted_clients_wait_after_a_few_failures_with_a_clear_message(app, factory, frozen_clock):
    factory.user(EMAIL)
    page = hammer(app, 5)
    assert "not correct" in page.text
    stranger = browser_at(app, "192.0.2.200")
    page = attempt(stranger, PASSWORD)
    assert "Too many wrong passwords" in page.text and "30 seconds" in page.text and not signed_in(stranger)
    frozen_clock.advance(seconds=31)
    attempt(stranger, PASSWORD)
    assert signed_in(stranger)


def test_per_client_limits_hold_for_the_owner_too(app, factory, frozen_clock):
    factory.user(EMAIL)
    owner = browser_at(app, OWNER_HOME)
    attempt(owner, PASSWORD)
    for i in range(5):
        attempt(owner, f"typo-{i}")
    page = attempt(owner, PASSWORD)
    assert "Too many wrong passwords" in page.text and not signed_in(owner)
    frozen_clock.advance(seconds=31)
    attempt(owner, PASSWORD)
    assert signed_in(owner)


def test_a_device_cookie_with_too_many_failures_of_its_own_is_rejected(app, services, factory, frozen_clock):
    factory.user(EMAIL)
    owner = browser_at(app, OWNER_HOME)
    attempt(owner, PASSWORD)
    move(owner, OWNER_TRAVEL)
    for i in range(services.config.lockout.trusted_max_failures):   # a thief with the owner's laptop
        frozen_clock.advance(minutes=16)
        attempt(owner, f"guess-{i}")
    hammer(app, 100, clock=frozen_clock)
    page = attempt(owner, PASSWORD)
    assert LOCKED in page.text and not signed_in(owner)


def test_a_forged_or_foreign_device_cookie_is_not_trusted(app, factory, frozen_clock):
    factory.user(EMAIL)
    factory.user("mallory@example.com")
    mallory = browser_at(app, ATTACKER)
    attempt(mallory, PASSWORD, email="mallory@example.com")        # a real device cookie, for her own account
    name, value = next((c.key, c.value) for c in mallory.client._cookies.values() if "device" in c.key)
    mallory.client.set_cookie(name, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    forged = browser_at(app, "192.0.2.201")
    forged.client.set_cookie(name, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    foreign = browser_at(app, "192.0.2.202")
    foreign.client.set_cookie(name, value)
    hammer(app, 100, clock=frozen_clock)
    for b in (forged, foreign):
        assert LOCKED in attempt(b, PASSWORD).text and not signed_in(b)


def test_the_owner_is_told_by_email_with_time_and_place(app, factory, frozen_clock, mailer):
    factory.user(EMAIL)
    hammer(app, 4)
    assert mailer.to(EMAIL) == []
    hammer(app, 1)
    (notice,) = mailer.to(EMAIL)
    assert "5 wrong passwords" in notice.body and ATTACKER in notice.body and "AttackBot/6.6" in notice.body
    assert frozen_clock.current.strftime("%Y-%m-%d %H:%M") in notice.body
    assert "wrong-" not in notice.body                                     # never the passwords tried
    hammer(app, 95, clock=frozen_clock)
    assert len(mailer.to(EMAIL)) == 2 and "100 wrong passwords" in mailer.to(EMAIL)[-1].body


def test_unknown_accounts_are_limited_the_same_way(app, factory, frozen_clock):
    factory.user(EMAIL)
    known = hammer(app, 6)
    unknown = None
    attacker = browser_at(app, ATTACKER, "AttackBot/6.6")
    for i in range(6):
        unknown = attempt(attacker, f"wrong-{i}", email="nobody@example.com")
    assert known.status == unknown.status and "Too many wrong passwords" in known.text
    assert without_values(known.text) == without_values(unknown.text)


def test_an_admin_unlock_lifts_the_account_wide_lock(app, services, factory, frozen_clock):
    from idp.administration import users
    from idp.administration.permissions import USER_MANAGEMENT, AdminScope
    from idp.audit import Actor
    from idp.models import User

    factory.user(EMAIL)
    hammer(app, 100, clock=frozen_clock)
    stranger = browser_at(app, "192.0.2.200")
    assert LOCKED in attempt(stranger, PASSWORD).text
    with services.database.session() as db:
        target = db.scalar(sa.select(User).where(User.email == EMAIL))
        shown = users.detail(db, target, frozen_clock.current, services.config)
        assert (shown.password_failures, shown.password_locked) == (100, True)      # what the admin page says
        scope = AdminScope(target.organisation_id, frozenset({USER_MANAGEMENT}), system=True)
        assert users.unlock(db, scope, target, "help desk call", Actor("t"), now=frozen_clock.current)
    attempt(stranger, PASSWORD)
    assert signed_in(stranger)


def test_stale_counters_are_pruned_but_not_a_lock(app, services, factory, frozen_clock):
    from idp.models import AttemptCounter
    from idp.attempts import counters as attempts

    factory.user(EMAIL)
    hammer(app, 100, clock=frozen_clock)                                   # a locked account
    attempt(browser_at(app, "192.0.2.9"), "typo", email="nobody@example.com")   # an unknown identifier, once
    frozen_clock.advance(days=services.config.lockout.known_address_days + 1)
    with services.database.session() as db:
        assert attempts.prune(db, services) > 0
        left = db.execute(sa.select(AttemptCounter.scope, AttemptCounter.failures)).all()
    assert left == [("account", 100)]
    assert LOCKED in attempt(browser_at(app, "192.0.2.200"), PASSWORD).text


def test_a_password_reset_lifts_the_account_wide_lock(app, services, factory, frozen_clock):
    from datetime import timedelta

    from idp.account_recovery import passwords, tokens
    from idp.audit import Actor
    from idp.models import User

    factory.user(EMAIL)
    hammer(app, 100, clock=frozen_clock)
    new_password = "a completely new passphrase 42"
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        link = tokens.issue(db, user, tokens.PASSWORD_RESET, timedelta(hours=1))
        passwords.reset_password(db, services, link, new_password, new_password, Actor("t"))
    stranger = browser_at(app, "192.0.2.200")
    attempt(stranger, new_password)
    assert signed_in(stranger)
