"""Security review F-06 (fixed): a stale session cannot view or confirm a left-over pending authenticator in
Profile > Security (which would replace the user's authenticator and make the session "fresh"): those pages
need a fresh proof like every other change, and confirming a factor removes abandoned set-ups of other code
methods (forced enrolment's "Choose another method" used to leave a pending TOTP secret behind)."""
from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa

from idp.factors import totp
from idp.models import SecondFactor, User
from tests.support.factors import EMAIL, enrol_totp
from tests.support.factory import PASSWORD
from tests.support.forms import forms, post_form


def test_stale_session_cannot_confirm_pending_authenticator_without_fresh_proof(browser, factory, services,
                                                                                 frozen_clock):
    factory.user(EMAIL)
    victim_secret = enrol_totp(services, EMAIL)                    # the victim's real authenticator
    with services.database.session() as db:                        # an abandoned set-up (pending factor)
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        pending_id = totp.start_enrolment(db, services, user).id
    page = browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    browser.submit(page, "code", {"code": pyotp.TOTP(victim_secret).at(frozen_clock.current)})
    frozen_clock.advance(minutes=10)                               # the session is no longer fresh (5 min)
    assert "/account/security/confirm" in browser.open("/account/security/recovery-codes/regenerate").url

    qr = browser.open(f"/account/security/authenticator/{pending_id}")
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', qr.text)
    # The secure behaviour: a stale session is sent to "Confirm it's you" instead of being shown the secret.
    assert found is None, "pending authenticator secret shown to a session without fresh proof"
    assert "/account/security/confirm" in qr.url
    refused = browser.open(f"/account/security/authenticator/{pending_id}", "POST",
                           {"csrf_token": "", "code": "000000"})
    assert refused.status in (302, 400) or "/account/security/confirm" in refused.url
    with services.database.session() as db:
        active = db.scalars(sa.select(SecondFactor.id).where(SecondFactor.confirmed_at.is_not(None))).all()
        assert pending_id not in active                             # the victim's authenticator stays


# --- how the pending factor comes about in normal use -------------------------------------------------------
import pytest  # noqa: E402

from tests.support.factors import require_2fa, rp, start  # noqa: E402,F401
from tests.support.smtp import email_config, latest_code, smtp  # noqa: E402,F401


class TestForcedEnrolmentLeavesPendingAuthenticator:
    @pytest.fixture
    def config_overrides(self, smtp):  # noqa: ANN001, ANN201, F811
        return {"email": email_config(smtp)}

    def test_back_from_authenticator_then_email_leaves_no_pending_totp(self, browser, factory, rp, smtp,  # noqa: F811
                                                                       services):
        factory.user(EMAIL)
        require_2fa(services)
        page, _ = start(browser, rp)
        page = browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
        page = browser.submit(page, "stage", {"method": "totp"})           # looks at the QR code ...
        page = browser.submit(page, "stage", {}, button=("action", "back"))  # ... "Choose another method"
        page = browser.submit(page, "stage", {"method": "email"})
        browser.submit(page, "stage", {}, button=("saved", "yes"))
        with services.database.session() as db:
            pending = db.scalars(sa.select(SecondFactor.kind).where(SecondFactor.confirmed_at.is_(None))).all()
        # The secure behaviour: abandoned set-ups are removed (or at least not usable later without proof).
        assert pending == [], f"left-over pending factors after sign-in enrolment: {pending}"
