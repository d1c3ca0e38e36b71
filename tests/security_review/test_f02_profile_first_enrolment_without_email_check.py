"""Security review F-02 (fixed): a password-only session (what the sign-in gives during a grace period, or
where 2FA is not required) cannot enrol a first authenticator in Profile > Security without first confirming
a code sent to the account's email address — a stolen password alone cannot enrol the thief's authenticator."""
from __future__ import annotations

import re

import pyotp
import pytest
import sqlalchemy as sa

from idp.models import SecondFactor, User
from tests.support.factors import EMAIL, sign_in_in_grace_period
from tests.support.factory import PASSWORD
from tests.support.forms import forms, post_form
from tests.support.smtp import email_config, smtp  # noqa: F401


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


def test_password_only_session_cannot_enrol_first_factor_without_email_check(browser, factory, services, smtp,  # noqa: F811
                                                                              frozen_clock):
    factory.user(EMAIL)
    # grace period running: the password alone signs in (the attacker knows the password)
    sign_in_in_grace_period(browser, services, "/account/security")
    chooser = browser.open("/account/security/enable")
    qr_page = post_form(browser, chooser, "/account/security/enable/totp")
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', qr_page.text)
    # The secure behaviour: a first factor set up from a password-only session first proves the mailbox.
    assert found is None, "authenticator set-up offered with no emailed code (password only)"
    assert "Confirm your email address" in qr_page.text
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id))) == 0
