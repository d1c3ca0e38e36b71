"""Security review F-05 (fixed): wrong passwords are counted per account across sign-ins, not only per login
transaction (a new transaction used to be free). After a few, every try from a browser or address the
account was not used in before waits (growing), during which even the right password is not checked; after
100 (NIST SP 800-63B §5.2.2) such clients are locked out until an administrator unlocks the account or the
password is reset. The message never says whether the account exists.

Issue 13 narrowed the account-wide limit to untrusted clients (tests/hardening/test_lockout.py): here every
try comes from a fresh browser on one address, so none is trusted, as for an attacker."""
from __future__ import annotations

from tests.support.browser import Browser
from tests.support.factory import PASSWORD

FREE_TRIES, HARD_LIMIT = 5, 100      # [lockout] password_free_failures, password_max_failures (defaults)


def fresh(app) -> Browser:  # noqa: ANN001
    """A new browser (no cookies) at another address than the attacker's."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    return Browser(client=client)


def signed_in(browser) -> bool:  # noqa: ANN001
    page = browser.open("/account/security")
    return page.status == 200 and 'name="password"' not in page.text


def wrong(browser, times: int, clock=None) -> None:  # noqa: ANN001
    for i in range(times):
        if clock is not None:
            clock.advance(minutes=16)                       # longer than the longest wait
        browser.sign_in(browser.open("/login/restart"), "alice@example.com", f"wrong-{i}")


def test_wrong_passwords_across_sign_ins_throttle_the_account(app, browser, factory, frozen_clock):
    factory.user("alice@example.com")
    wrong(browser, FREE_TRIES)
    victim = fresh(app)
    page = victim.sign_in(victim.open("/login/restart"), "alice@example.com", PASSWORD)
    assert "Too many wrong passwords" in page.text and not signed_in(victim)   # even the right one waits
    wrong(browser, 3)                                                           # throttled tries are not counted
    frozen_clock.advance(seconds=31)
    victim.sign_in(victim.open("/login/restart"), "alice@example.com", PASSWORD)
    assert signed_in(victim)


def test_the_hard_limit_locks_until_an_admin_unlocks(app, browser, factory, frozen_clock):
    factory.user("alice@example.com")
    wrong(browser, HARD_LIMIT, clock=frozen_clock)
    frozen_clock.advance(days=30)
    victim = fresh(app)
    page = victim.sign_in(victim.open("/login/restart"), "alice@example.com", PASSWORD)
    assert "paused" in page.text and not signed_in(victim)


def test_unknown_accounts_get_the_same_answer(browser, factory):
    factory.user("alice@example.com")
    known = browser.sign_in(browser.open("/login/restart"), "alice@example.com", "wrong")
    unknown = browser.sign_in(browser.open("/login/restart"), "nobody@example.com", "wrong")
    assert known.status == unknown.status and "not correct" in known.text and "not correct" in unknown.text
