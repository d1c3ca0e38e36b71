"""Issue 13: the second-factor lock must not be a weapon either. Someone who knows the password can lock the
second factor with wrong codes; browsers that signed in to the account before (device cookie) still sign in
with a right code, new browsers stay locked out, and the owner is told by email with the time and place."""
from __future__ import annotations

import pytest

from tests.support.browser import Browser
from tests.support.factors import EMAIL, code_at, enrol_totp, rp  # noqa: F401 (rp: fixture)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.smtp import email_config, smtp  # noqa: F401 (fixture)

WRONG = "000000"


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp), "rate_limit": {"enabled": False},
            "lockout": {"max_failures": 4, "trusted_max_failures": 3}}


def sign_in_page(browser: Browser, rp) -> object:  # noqa: ANN001, F811
    _, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge, prompt="login"))
    return browser.sign_in(page, EMAIL, PASSWORD)


def lock_from(browser: Browser, rp, frozen_clock, wrong: str) -> object:  # noqa: ANN001, F811
    """Wrong codes until the second factor is locked (waiting out each growing delay)."""
    page = sign_in_page(browser, rp)
    for _ in range(10):
        page = browser.submit(page, "code", {"code": wrong})
        frozen_clock.advance(seconds=61)
        if "locked until" in page.text:
            return page
        if 'name="code"' not in page.text:
            page = sign_in_page(browser, rp)
    raise AssertionError(page.text)


def test_the_owner_s_browser_still_signs_in_while_the_factor_is_locked_for_others(app, factory, rp, services,  # noqa: F811
                                                                                 smtp, frozen_clock):  # noqa: F811
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    owner = Browser(client=app.test_client())
    done = owner.submit(sign_in_page(owner, rp), "code", {"code": code_at(secret, frozen_clock)})
    assert done.location and done.location.startswith(rp.redirect_uri)        # now it holds a device cookie
    frozen_clock.advance(seconds=31)
    attacker = Browser(client=app.test_client())
    wrong = WRONG if code_at(secret, frozen_clock) != WRONG else "111111"
    lock_from(attacker, rp, frozen_clock, wrong)

    refused = sign_in_page(attacker, rp)
    assert "locked until" in refused.text and 'name="code"' not in refused.text   # a new browser stays out
    page = sign_in_page(owner, rp)
    back_in = owner.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert back_in.location and back_in.location.startswith(rp.redirect_uri)

    notice = next(m for m in smtp.to(EMAIL) if "locked" in m.get_payload(decode=True).decode())
    body = notice.get_payload(decode=True).decode()
    assert "locked until" in body and "127.0.0.1" in body and "UTC" in body


def test_a_trusted_browser_that_guesses_too_often_loses_its_exemption(app, factory, rp, services,  # noqa: F811
                                                                       frozen_clock):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    owner = Browser(client=app.test_client())
    owner.submit(sign_in_page(owner, rp), "code", {"code": code_at(secret, frozen_clock)})
    frozen_clock.advance(seconds=31)
    wrong = WRONG if code_at(secret, frozen_clock) != WRONG else "111111"
    lock_from(owner, rp, frozen_clock, wrong)          # its own 3 wrong codes are more than it is trusted with
    refused = sign_in_page(owner, rp)
    assert "locked until" in refused.text and 'name="code"' not in refused.text
