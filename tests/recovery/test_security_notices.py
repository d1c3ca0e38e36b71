"""Security notices by email (real SMTP) for each security event: a new second factor, a factor removed,
recovery codes regenerated, a recovery code used, the administrator's 2FA reset, a new security key or passkey
(password and email changes: test_profile_self_service.py, test_password_reset.py)."""
from __future__ import annotations

import re

import pyotp
import pytest
import sqlalchemy as sa

from idp.administration import users as admin_users
from idp.administration.permissions import AdminScope
from idp.audit import Actor
from idp.clock import now
from idp.models import SecondFactor, User
from idp.outbox.worker import drain
from tests.support.factors import enrol_totp, give_recovery_codes, rp, start  # noqa: F401  (rp: fixture)
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.smtp import email_config, smtp  # noqa: F401  (fixture: a real SMTP server)
from tests.support.soft_authenticator import SoftAuthenticator
from tests.webauthn.helpers import add_key, answer_step, check_email, register_key

EMAIL = "alice@example.com"


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def notices(smtp, count: int = 1) -> list[str]:  # noqa: ANN001, F811
    smtp.wait_for(EMAIL, "security notice", count=count)
    return [m.get_body(("plain",)).get_content() for m in smtp.to(EMAIL, "security notice")]


def post(browser, page, action: str, **values: str):  # noqa: ANN001, ANN201
    form = next(f for f in forms(page.text) if f.action == action)
    return browser.open(action, "POST", {**form.fields, **values})


def test_new_second_factor(browser, alice, smtp, frozen_clock):  # noqa: ANN001, F811
    browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    check_email(browser, smtp, EMAIL)                     # the first set-up: the emailed account check
    qr = post(browser, browser.open("/account/security/enable"), "/account/security/enable/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', qr.text).group(1).replace(" ", "")
    action = re.search(r'action="(/account/security/authenticator/\d+)"', qr.text).group(1)
    post(browser, qr, action, code=pyotp.TOTP(secret).at(frozen_clock.current))
    assert "A new second factor" in notices(smtp)[0]


def test_factor_removed_and_recovery_codes_regenerated(browser, alice, services, smtp, frozen_clock):  # noqa: ANN001, F811
    key = SoftAuthenticator()
    register_key(services, EMAIL, key)
    enrol_totp(services, EMAIL)
    give_recovery_codes(services, EMAIL)
    answer_step(browser, browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD), key)
    page = browser.open("/account/security/recovery-codes/regenerate")
    post(browser, page, "/account/security/recovery-codes/regenerate")
    with services.database.session() as db:
        totp_id = db.scalar(sa.select(SecondFactor.id).where(SecondFactor.kind == "totp"))
    post(browser, browser.open(f"/account/security/factors/{totp_id}/remove"),
         f"/account/security/factors/{totp_id}/remove")
    bodies = notices(smtp, count=2)
    assert any("New recovery codes were created" in b for b in bodies)
    assert any("A second factor was removed" in b for b in bodies)


def test_recovery_code_used(browser, rp, alice, services, smtp, frozen_clock):  # noqa: ANN001, F811
    enrol_totp(services, EMAIL)
    codes = give_recovery_codes(services, EMAIL)
    page, _ = start(browser, rp)
    page = browser.choose(page, "Use a recovery code instead")
    browser.submit(page, "code", {"code": codes[0]})
    assert "A recovery code was used" in notices(smtp)[0]


def test_reset_by_an_administrator(alice, services, smtp):  # noqa: ANN001, F811
    enrol_totp(services, EMAIL)
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        scope = AdminScope(organisation_id=user.organisation_id, permissions=frozenset(), system=True)
        admin_users.reset_2fa(db, services, scope, user, "lost phone", Actor("cli:admin"), now=now())
    assert smtp.to(EMAIL) == []       # queued in that transaction (idp.outbox); a worker sends it
    drain(services)
    assert "An administrator reset the two-factor authentication" in notices(smtp)[0]


def test_new_passkey(browser, client, alice, smtp):  # noqa: ANN001, F811
    browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    add_key(browser, client, SoftAuthenticator(), "Laptop", smtp=smtp)
    assert "A new security key or passkey was added" in notices(smtp)[0]
