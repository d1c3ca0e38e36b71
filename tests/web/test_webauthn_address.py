"""Security keys and passkeys on a server whose issuer is an IP address (http://127.0.0.1:8000): browsers refuse an
IP address as the WebAuthn RP id, so the pages say that, instead of blaming https (issue 15, item 7)."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from idp.audit import Actor
from idp.factors import webauthn
from idp.models import User
from tests.support.factors import EMAIL, rp, start  # noqa: F401 (fixture)
from tests.support.factory import PASSWORD
from tests.support.soft_authenticator import SoftAuthenticator

CAUSE = "127.0.0.1 is an IP address"


@pytest.fixture
def issuer() -> str:
    return "http://127.0.0.1:8000"


def test_adding_a_key_in_profile_explains_the_ip_address(browser, factory):  # noqa: ANN001
    factory.user(EMAIL)
    browser.sign_in(browser.open("/account/security"), EMAIL, PASSWORD)
    page = browser.open("/account/security/keys/add")
    assert page.status == 200 and 'id="webauthn-address"' in page.text and CAUSE in page.text
    assert 'data-webauthn-address="Security keys and passkeys cannot work' in page.text   # for static/webauthn.js


def test_the_sign_in_step_explains_the_ip_address(browser, factory, rp, services):  # noqa: ANN001, F811
    factory.user(EMAIL)
    key = SoftAuthenticator()
    with services.database.session() as db:      # a key made elsewhere (browsers would refuse to make one here)
        person = db.scalar(sa.select(User).where(User.email == EMAIL))
        bound = webauthn.binding("sid", "setup")
        challenge_id, options = webauthn.registration_options(db, services.config, person, bound)
        answer = key.register(json.loads(options), origin="http://127.0.0.1:8000", rp_id="127.0.0.1")
        webauthn.register(db, services.config, person, bound, challenge_id, json.dumps(answer), "USB", Actor("test"))
    page, _ = start(browser, rp)
    assert "Use your security key or passkey" in page.text and CAUSE in page.text


def test_the_script_uses_the_server_s_reason_for_a_security_error(client):  # noqa: ANN001
    script = client.get("/static/webauthn.js").get_data(as_text=True)
    assert 'getAttribute("data-webauthn-address")' in script
