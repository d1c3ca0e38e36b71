"""Security review R2: the emailed check before a first second factor ("a stolen password alone cannot
enrol the thief's authenticator", idp/flow/steps/enrol_second_factor.py:1-5, idp/web/account/common.py:
111-131) is defeated by changing the account's email address first, which needs only the password.

For an account without a second factor, `is_fresh()` counts the password sign-in as a fresh proof
(idp/web/account/common.py:92-94, `proved_at` keeps "pwd" when no factor is enrolled), so
`/account/security/email` (fresh_proof_required() without only_when_enrolled, idp/web/account/password.py:
51-70) accepts a new address; the link goes to the NEW address only (idp/account_recovery/email.py:54-71).
The thief opens it, the account's email is theirs, and the first-set-up email check then emails the code to
the thief: their authenticator is enrolled with the password alone (during a grace period, or wherever 2FA
is not yet required), locking the owner out of their own 2FA-protected account."""
from __future__ import annotations

import re

import pyotp
import pytest
import sqlalchemy as sa

from idp.models import SecondFactor, User
from tests.support.factors import EMAIL, sign_in_in_grace_period
from tests.support.factory import PASSWORD
from tests.support.forms import forms, post_form
from tests.support.smtp import email_config, latest_code, smtp  # noqa: F401

THIEF = "thief@evil.example"
VERIFY = re.compile(r"http://localhost(/verify-email/[A-Za-z0-9_-]+)")


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


def test_password_alone_changes_the_email_then_enrols_the_thiefs_authenticator(browser, factory, services,
                                                                               smtp, frozen_clock):  # noqa: F811
    factory.user(EMAIL)
    # grace period running: the password alone signs in (the thief knows the password)
    sign_in_in_grace_period(browser, services, "/account/security")

    # 1. the thief tries to make the account's address theirs (a link goes to the new address only)
    page = browser.open("/account/security/email")
    moved = enrolled = False
    if "Change email address" not in page.text:
        # the fix: with no second factor yet, a code sent to the CURRENT address comes first
        assert "Confirm your email address" in page.text and len(smtp.to(EMAIL)) >= 1, page.text[:2000]
        refused = post_form(browser, page, "/account/security/check-email", code="000000")
        assert "Change email address" not in refused.text
    else:
        post_form(browser, page, "/account/security/email", email=THIEF)
        body = smtp.wait_for(THIEF, "Confirm your email").get_body(("plain",)).get_content()
        path = VERIFY.search(body).group(1)
        post_form(browser, browser.open(path), path)
        with services.database.session() as db:
            moved = db.scalar(sa.select(User).where(User.email == THIEF)) is not None
        enrolled = _enrol_through_the_thiefs_mailbox(browser, smtp, frozen_clock, services)

    # The secure behaviour: a password-only session can neither move the account's address nor, through it,
    # enrol a first second factor.
    assert not (moved and enrolled), (f"moved={moved} enrolled={enrolled}: a password-only session moved the "
                                      "account's email address to the thief's and then enrolled the thief's authenticator")
    assert not moved, "a password-only session changed the account's email address to the thief's"


def _enrol_through_the_thiefs_mailbox(browser, smtp, frozen_clock, services) -> bool:  # noqa: ANN001, F811
    """2. the first-set-up email check goes to the thief, who enrols their own authenticator."""
    chooser = browser.open("/account/security/enable")
    page = post_form(browser, chooser, "/account/security/enable/totp")
    if "check-email" in (page.url or "") or "Confirm your email address" in page.text:
        page = post_form(browser, page, "/account/security/check-email", code=latest_code(smtp, THIEF))
        if "/account/security/enable" in (page.url or "") and 'id="totp-secret"' not in page.text:
            page = post_form(browser, browser.open("/account/security/enable"), "/account/security/enable/totp")
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text)
    if not found:
        return False
    secret = found.group(1).replace(" ", "")
    form = next(f for f in forms(page.text) if "code" in f.fields or f.action.startswith("/account/security/authenticator"))
    browser.open(form.action, "POST", {**form.fields, "code": pyotp.TOTP(secret).at(frozen_clock.current)})
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(SecondFactor.id)).where(SecondFactor.confirmed_at.is_not(None))) > 0
