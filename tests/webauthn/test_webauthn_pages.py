"""Security keys and passkeys over HTTP (Flask test client + software authenticator): Profile > Security (add
with a name, list, rename, remove after a fresh proof with a key), the `webauthn` second-factor step (amr hwk /
swk, refusals audited and counted), organisations allowing or not, the administrator's 2FA reset, notices."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from idp.administration import users as admin_users
from idp.administration.permissions import AdminScope
from idp.administration.settings import parse_methods
from idp.audit import Actor
from idp.clock import now
from idp.models import AuditEvent, Organisation, SecondFactor, User, WebAuthnCredential
from idp.outbox.worker import drain
from tests.support.factors import enrol_totp, fresh, require_2fa, rp, start  # noqa: F401  (rp: fixture)
from tests.support.forms import forms
from tests.support.smtp import email_config, smtp  # noqa: F401  (fixture: a real SMTP server)
from tests.support.soft_authenticator import SoftAuthenticator, b64url

from .helpers import (add_key, answer_step, claims_of, confirm_with_key, csrf_on, fetch_options, key_names,
                      options_on, profile_sign_in, register_key)

EMAIL = "alice@example.com"


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def events(services, name: str) -> list[AuditEvent]:  # noqa: ANN001
    with services.database.session() as db:
        return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


def set_org(services, **values) -> None:  # noqa: ANN001
    with services.database.session() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.slug == "default"))
        for key, value in values.items():
            setattr(org, key, value)


def user_row(services, email: str = EMAIL) -> User:  # noqa: ANN001
    with services.database.session() as db:
        person = db.scalar(sa.select(User).where(User.email == email))
        db.expunge_all()
        return person


# --------------------------------------------------------------------------- Profile > Security

def test_add_keys_from_profile_with_names(browser, client, alice, services, smtp, frozen_clock):  # noqa: ANN001, F811
    profile_sign_in(browser, EMAIL)
    overview = browser.open("/account/security")
    assert "Add a security key or passkey" in overview.text and '<h3 id="keys">Passkeys</h3>' in overview.text
    usb = SoftAuthenticator()
    done = add_key(browser, client, usb, "Blue YubiKey", smtp=smtp)
    assert done.status == 200 and "Two-factor authentication is on" in done.text      # the first factor: codes
    assert "Save your recovery codes" in done.text
    frozen_clock.advance(minutes=1)
    confirm = browser.open("/account/security/keys/add")      # now a factor exists: a fresh proof first
    assert "Confirm it" in confirm.text
    assert "Add a security key or passkey" in confirm_with_key(browser, client, confirm, usb).text
    second = add_key(browser, client, SoftAuthenticator(transports=("internal",), attachment="platform"), "Laptop")
    assert second.status == 200 and "\u201cLaptop\u201d is added" in second.text
    assert key_names(services, EMAIL) == ["Blue YubiKey", "Laptop"]
    listed = browser.open("/account/security")
    assert "Blue YubiKey" in listed.text and "Laptop" in listed.text and "Never" in listed.text   # last used
    assert [e.details["kind"] for e in events(services, "second_factor_enrolled")] == ["webauthn", "webauthn"]
    notice = smtp.wait_for(EMAIL, subject_contains="security notice")
    assert "security key or passkey was added" in notice.get_body(("plain",)).get_content()


def test_a_refused_registration_changes_nothing(browser, client, alice, services, smtp):  # noqa: ANN001, F811
    profile_sign_in(browser, EMAIL)
    page = add_key(browser, client, SoftAuthenticator(), "Evil", smtp=smtp, origin="http://evil.example")
    assert page.status == 400 and "could not be checked" in page.text
    page = add_key(browser, client, SoftAuthenticator(), "")
    assert page.status == 400 and "Give the security key or passkey a name" in page.text
    assert key_names(services, EMAIL) == []
    assert events(services, "webauthn_refused")[0].details["purpose"] == "register"


def test_the_options_endpoint_needs_the_csrf_token(browser, client, alice):  # noqa: ANN001
    profile_sign_in(browser, EMAIL)
    assert client.post("/account/security/keys/options").status_code == 400


def test_rename_and_remove_after_a_fresh_proof_with_a_key(browser, client, alice, services, smtp,  # noqa: ANN001, F811
                                                          frozen_clock):
    usb, phone = SoftAuthenticator(), SoftAuthenticator(transports=("hybrid",))
    first, second = register_key(services, EMAIL, usb, "USB"), register_key(services, EMAIL, phone, "Phone")
    page = browser.sign_in(browser.open("/account/security"), EMAIL, "correct horse battery staple")
    assert "data-options" in page.text             # the second factor: a key
    answer_step(browser, page, usb)
    renamed = browser.submit(browser.open(f"/account/security/keys/{second}/rename"), "name", {"name": "Old phone"})
    assert "Renamed to \u201cOld phone\u201d" in renamed.text and key_names(services, EMAIL) == ["USB", "Old phone"]
    bad = browser.submit(browser.open(f"/account/security/keys/{second}/rename"), "name", {"name": " "})
    assert bad.status == 400

    frozen_clock.advance(minutes=6)                # the sign-in is no longer a fresh proof
    confirm = browser.open(f"/account/security/factors/{second}/remove")
    assert "Confirm it" in confirm.text and "Use your security key or passkey" in confirm.text
    remove_page = confirm_with_key(browser, client, confirm, usb)
    assert "Remove Security key?" in remove_page.text and "Old phone" in remove_page.text
    action = f"/account/security/factors/{second}/remove"
    gone = browser.open(action, "POST", next(f for f in forms(remove_page.text) if f.action == action).fields)
    assert "was removed from your account" in gone.text
    assert key_names(services, EMAIL) == ["USB"]
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(WebAuthnCredential.id))) == 1
    assert events(services, "step_up")[-1].details["method"] == "webauthn"
    assert first in [f.id for f in _factors(services)]
    assert smtp.wait_for(EMAIL, subject_contains="security notice")
    assert any("was removed" in m.get_body(("plain",)).get_content() for m in smtp.to(EMAIL, "security notice"))


def _factors(services) -> list[SecondFactor]:  # noqa: ANN001
    with services.database.session() as db:
        return list(db.scalars(sa.select(SecondFactor)))


def test_a_wrong_key_at_confirm_it_is_you_is_counted(browser, client, alice, services, frozen_clock):  # noqa: ANN001
    mine = SoftAuthenticator()
    register_key(services, EMAIL, mine)
    answer_step(browser, profile_sign_in(browser, EMAIL), mine)
    frozen_clock.advance(minutes=6)
    confirm = browser.open("/account/security/recovery-codes/regenerate")
    body = fetch_options(client, confirm, "/account/security/keys/confirm-options")
    form = next(f for f in forms(confirm.text) if f.action == "/account/security/confirm/key")
    answer = mine.assertion(body["options"], origin="http://evil.example")
    refused = browser.open(form.action, "POST", {**form.fields, "challenge_id": str(body["challenge_id"]),
                                                 "credential": json.dumps(answer)})
    assert refused.status == 400 and "could not be checked" in refused.text
    assert user_row(services).otp_failures == 1


def test_an_organisation_can_disallow_security_keys(browser, client, alice, services):  # noqa: ANN001
    assert parse_methods(["totp", "webauthn"]) == ("totp", "webauthn")
    assert parse_methods(["totp", "email", "sms", "webauthn"]) == ()         # every method = all
    set_org(services, allowed_methods=["totp"])
    profile_sign_in(browser, EMAIL)
    assert "Add a security key or passkey" not in browser.open("/account/security").text
    refused = browser.open("/account/security/keys/add")
    assert "not available for your account" in refused.text
    page = browser.open("/account/security")
    reply = client.post("/account/security/keys/options", headers={"X-CSRFToken": csrf_on(page)})
    assert reply.status_code == 403
    set_org(services, allowed_methods=["webauthn"])
    assert "Add a security key or passkey" in browser.open("/account/security").text


# --------------------------------------------------------------------------- the second-factor step

def test_sign_in_with_a_security_key_as_second_factor(browser, client, rp, alice, services):  # noqa: ANN001, F811
    key = SoftAuthenticator()
    register_key(services, EMAIL, key, "USB")
    enrol_totp(services, EMAIL)
    page, verifier = start(browser, rp)
    assert "Use your security key or passkey" in page.text               # webauthn comes first
    assert "Authenticator App" in page.text                              # "Try another way"
    options = options_on(page)
    assert options["userVerification"] == "preferred" and len(options["allowCredentials"]) == 1
    done = answer_step(browser, page, key)
    claims = claims_of(client, rp, done, verifier)
    assert claims["amr"] == ["pwd", "hwk", "mfa"] and claims["acr"] == "urn:fentu:acr:mfa"
    with services.database.session() as db:
        assert db.scalar(sa.select(SecondFactor.last_used_at).where(SecondFactor.kind == "webauthn")) is not None


def test_a_platform_passkey_as_second_factor_is_swk(browser, client, rp, alice, services):  # noqa: ANN001, F811
    key = SoftAuthenticator(transports=("internal",), attachment="platform")
    register_key(services, EMAIL, key)
    page, verifier = start(browser, rp)
    assert claims_of(client, rp, answer_step(browser, page, key), verifier)["amr"] == ["pwd", "swk", "mfa"]


@pytest.mark.parametrize("bend, detail", [
    ({"origin": "http://evil.example"}, "origin"),
    ({"rp_id": "evil.example"}, "RP ID"),
    ({"challenge": b64url(b"z" * 32)}, "challenge"),
])
def test_bad_answers_at_sign_in_are_refused(browser, client, rp, alice, services, bend, detail):  # noqa: ANN001, F811
    key = SoftAuthenticator()
    register_key(services, EMAIL, key)
    page, _ = start(browser, rp)
    refused = answer_step(browser, page, key, **bend)
    assert refused.status == 200 and refused.location is None
    assert "could not be checked" in refused.text and options_on(refused)["challenge"] != options_on(page)["challenge"]
    assert detail in events(services, "webauthn_refused")[-1].details["detail"]
    assert user_row(services).otp_failures == 1
    assert events(services, "sign_in_attempt")[-1].outcome == "failure"
    # the right answer on the new challenge still works
    assert answer_step(browser, refused, key).location.startswith(rp.redirect_uri)


def test_sign_count_regression_and_foreign_keys_at_sign_in(app, rp, factory, alice, services):  # noqa: ANN001, F811
    factory.user("bob@example.com")
    mine, bobs = SoftAuthenticator(), SoftAuthenticator()
    register_key(services, EMAIL, mine)
    register_key(services, "bob@example.com", bobs)
    page, _ = start(browser := fresh(app), rp)
    assert answer_step(browser, page, mine, sign_count=0).location     # no counter yet: 0 → 0 is fine
    page, _ = start(browser := fresh(app), rp)
    assert answer_step(browser, page, mine, sign_count=5).location     # once it moved, it must keep moving
    page, _ = start(browser := fresh(app), rp)
    cloned = answer_step(browser, page, mine, sign_count=2)
    assert "impossible use counter" in cloned.text
    assert len(events(services, "webauthn_sign_count_regression")) == 1
    foreign = answer_step(browser, cloned, bobs, credential_id=next(iter(bobs.credentials)))
    assert "belongs to another account" in foreign.text
    logged = events(services, "webauthn_foreign_credential")
    assert len(logged) == 1 and logged[0].target == EMAIL
    assert user_row(services).otp_failures == 2


def test_a_replayed_sign_in_assertion_is_refused(browser, client, rp, alice, services, app):  # noqa: ANN001, F811
    key = SoftAuthenticator(counter=False)
    register_key(services, EMAIL, key)
    page, _ = start(browser, rp)
    answer = key.assertion(options_on(page))
    assert browser.submit(page, "credential", {"credential": json.dumps(answer)}).location
    other = fresh(app)
    page, _ = start(other, rp)
    replay = other.submit(page, "credential", {"credential": json.dumps(answer)})
    assert replay.location is None and "could not be checked" in replay.text


def test_the_step_is_not_offered_without_keys(browser, rp, alice, services, frozen_clock):  # noqa: ANN001, F811
    enrol_totp(services, EMAIL)
    page, _ = start(browser, rp)
    assert "data-options" not in page.text and "Code from your authenticator app" in page.text
    assert "Security key or passkey" not in page.text


# --------------------------------------------------------------------------- enforcement and administrators

def test_a_key_satisfies_enforced_2fa(browser, client, rp, alice, services):  # noqa: ANN001, F811
    require_2fa(services)
    key = SoftAuthenticator()
    register_key(services, EMAIL, key)
    page, verifier = start(browser, rp)
    assert "data-options" in page.text
    assert "mfa" in claims_of(client, rp, answer_step(browser, page, key), verifier)["amr"]


def test_the_administrators_2fa_reset_removes_keys(alice, services, smtp):  # noqa: ANN001, F811
    register_key(services, EMAIL, SoftAuthenticator(), "one")
    register_key(services, EMAIL, SoftAuthenticator(), "two")
    with services.database.session() as db:
        person = db.scalar(sa.select(User).where(User.email == EMAIL))
        scope = AdminScope(organisation_id=person.organisation_id, permissions=frozenset(), system=True)
        result = admin_users.reset_2fa(db, services, scope, person, "lost phone", Actor("cli:test"), now=now())
        assert result.factors_removed == ["webauthn", "webauthn"]
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(WebAuthnCredential.id))) == 0
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id))) == 0
    drain(services)              # the notice was queued with the reset (idp.outbox); a worker sends it
    assert "reset the two-factor" in smtp.wait_for(EMAIL, "security notice").get_body(("plain",)).get_content()


def test_last_used_is_shown(browser, client, alice, services, frozen_clock):  # noqa: ANN001
    key = SoftAuthenticator()
    register_key(services, EMAIL, key, "USB")
    frozen_clock.advance(days=1)
    answer_step(browser, profile_sign_in(browser, EMAIL), key)
    page = browser.open("/account/security")
    row = page.text[page.text.index(">USB<"):]
    assert frozen_clock.current.strftime("%-d %b %Y, %H:%M") in row[:600]
