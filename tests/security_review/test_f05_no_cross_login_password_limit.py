"""Security review F-05 (fixed): wrong passwords are counted per account across sign-ins, not only per login
transaction (a new transaction used to be free). After a few the account is throttled with a growing wait,
during which even the right password is not accepted; after 100 (NIST SP 800-63B §5.2.2) it stays locked
until an administrator unlocks it. The message never says whether the account exists."""
from __future__ import annotations

import sqlalchemy as sa

from idp.accounts import PASSWORD_FREE_TRIES, PASSWORD_HARD_LIMIT
from idp.models import User
from tests.support.factory import PASSWORD


def counters(services) -> tuple[int, object]:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == "alice@example.com"))
        return user.password_failures, user.password_retry_after


def signed_in(browser) -> bool:  # noqa: ANN001
    page = browser.open("/account/security")
    return page.status == 200 and 'name="password"' not in page.text


def wrong(browser, times: int) -> None:  # noqa: ANN001
    for i in range(times):
        browser.sign_in(browser.open("/login/restart"), "alice@example.com", f"wrong-{i}")


def test_wrong_passwords_across_sign_ins_throttle_the_account(browser, factory, services, frozen_clock):
    factory.user("alice@example.com")
    wrong(browser, PASSWORD_FREE_TRIES)
    failures, until = counters(services)
    assert failures == PASSWORD_FREE_TRIES and until is not None
    page = browser.sign_in(browser.open("/login/restart"), "alice@example.com", PASSWORD)
    assert "not correct" in page.text and not signed_in(browser)     # throttled: even the right one waits
    assert counters(services)[0] == PASSWORD_FREE_TRIES             # and a throttled try is not counted
    frozen_clock.advance(minutes=16)
    browser.sign_in(browser.open("/login/restart"), "alice@example.com", PASSWORD)
    assert signed_in(browser) and counters(services) == (0, None)


def test_the_hard_limit_locks_until_an_admin_unlocks(browser, factory, services, frozen_clock):
    factory.user("alice@example.com")
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == "alice@example.com")).password_failures = PASSWORD_HARD_LIMIT - 1
    wrong(browser, 1)
    frozen_clock.advance(days=30)
    browser.sign_in(browser.open("/login/restart"), "alice@example.com", PASSWORD)
    assert not signed_in(browser)


def test_unknown_accounts_get_the_same_answer(browser, factory):
    factory.user("alice@example.com")
    known = browser.sign_in(browser.open("/login/restart"), "alice@example.com", "wrong")
    unknown = browser.sign_in(browser.open("/login/restart"), "nobody@example.com", "wrong")
    assert known.status == unknown.status and "not correct" in known.text and "not correct" in unknown.text
