""""Sign in with a passkey" (policies/passkey.toml, made the default flow here): the passkey alone signs in
with amr [hwk|swk, user, mfa] and the MFA acr, user verification required; "Try another way" → the password,
then the second factor as usual. The example policy files pass the loader; a broken variant does not."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from idp.flow.policy import PolicyError, load_policies
from idp.models import AuditEvent, User
from tests.support.configs import ROOT
from tests.support.factors import enrol_totp, fresh, require_2fa, rp  # noqa: F401  (rp: fixture)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.soft_authenticator import SoftAuthenticator

from .helpers import answer_step, claims_of, options_on, register_key

EMAIL = "alice@example.com"


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"policy": {"default_flow": "passkey"}}


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def open_sign_in(browser, rp, **extra):  # noqa: ANN001, ANN201
    verifier, challenge = pkce_pair()
    return browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge, **extra)), verifier


def test_sign_in_with_a_passkey_alone(browser, client, rp, alice, services):  # noqa: ANN001, F811
    key = SoftAuthenticator(transports=("internal",), attachment="platform")
    register_key(services, EMAIL, key, "Laptop")
    page, verifier = open_sign_in(browser, rp)
    assert "Sign in with a passkey" in page.text and 'name="password"' not in page.text
    options = options_on(page)
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    done = answer_step(browser, page, key)
    claims = claims_of(client, rp, done, verifier)
    assert claims["amr"] == ["swk", "user", "mfa"] and claims["acr"] == "urn:fentu:acr:mfa"
    with services.database.session() as db:
        sign_in = db.scalar(sa.select(AuditEvent).where(AuditEvent.event == "sign_in", AuditEvent.outcome == "success"))
        assert sign_in.target == EMAIL and sign_in.details["flow"] == "passkey"


def test_a_security_key_as_passkey_is_hwk_and_satisfies_enforced_2fa(browser, client, rp, alice, services):  # noqa: ANN001, F811
    require_2fa(services)
    key = SoftAuthenticator()
    register_key(services, EMAIL, key)
    page, verifier = open_sign_in(browser, rp, acr_values="urn:fentu:acr:mfa")
    claims = claims_of(client, rp, answer_step(browser, page, key), verifier)
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == "urn:fentu:acr:mfa"


def test_a_passkey_without_user_verification_is_refused(browser, rp, alice, services):  # noqa: ANN001, F811
    key = SoftAuthenticator(user_verifying=False)
    register_key(services, EMAIL, key)
    page, _ = open_sign_in(browser, rp)
    refused = answer_step(browser, page, key)
    assert refused.location is None and "must check it" in refused.text
    assert "Sign in with a passkey" in refused.text


def test_an_unknown_passkey_and_a_disabled_account_are_refused(browser, app, rp, alice, services):  # noqa: ANN001, F811
    stranger = SoftAuthenticator()
    page, _ = open_sign_in(browser, rp)
    stranger.register({"user": {"id": "bm9ib2R5"}, "challenge": options_on(page)["challenge"]})
    refused = answer_step(browser, page, stranger)
    assert "not registered here" in refused.text
    key = SoftAuthenticator()
    register_key(services, EMAIL, key)
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == EMAIL)).is_active = False
    page, _ = open_sign_in(other := fresh(app), rp)
    refused = answer_step(other, page, key)
    assert refused.location is None and "disabled" in refused.text


def test_try_another_way_password_then_second_factor(browser, client, rp, alice, services, frozen_clock):  # noqa: ANN001, F811
    key = SoftAuthenticator()
    register_key(services, EMAIL, key)
    page, verifier = open_sign_in(browser, rp)
    page = browser.choose(page, "Password")
    assert 'name="password"' in page.text
    after_password = browser.sign_in(page, EMAIL, PASSWORD)
    assert "Use your security key or passkey" in after_password.text      # the second factor, not the passkey
    assert options_on(after_password)["userVerification"] == "preferred"
    claims = claims_of(client, rp, answer_step(browser, after_password, key), verifier)
    assert claims["amr"] == ["pwd", "hwk", "mfa"]


def test_people_without_a_passkey_use_their_password(browser, client, rp, alice, services, frozen_clock):  # noqa: ANN001, F811
    secret = enrol_totp(services, EMAIL)
    page, verifier = open_sign_in(browser, rp)
    page = browser.sign_in(browser.choose(page, "Password"), EMAIL, PASSWORD)
    from tests.support.factors import code_at
    done = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert claims_of(client, rp, done, verifier)["amr"] == ["pwd", "otp", "mfa"]


def test_a_replayed_passkey_assertion_is_refused(browser, app, rp, alice, services):  # noqa: ANN001, F811
    key = SoftAuthenticator(counter=False)
    register_key(services, EMAIL, key)
    page, _ = open_sign_in(browser, rp)
    answer = json.dumps(key.assertion(options_on(page)))
    assert browser.submit(page, "credential", {"credential": answer}).location
    page, _ = open_sign_in(other := fresh(app), rp)
    assert other.submit(page, "credential", {"credential": answer}).location is None


def test_the_example_policies_load_and_a_broken_one_is_refused(tmp_path: Path):
    flows = load_policies(ROOT / "policies").flows
    assert {"passkey", "passkey-or-password"} <= set(flows)
    for name in ("browser.toml", "second-factor.toml", "passkey-or-password.toml"):
        (tmp_path / name).write_text((ROOT / "policies" / name).read_text())
    (tmp_path / "passkey.toml").write_text(
        'description = "second factor before anyone is known"\n\n'
        '[[step]]\ntype = "webauthn"\nrequirement = "required"\n\n'
        '[[step]]\ntype = "flow"\nflow = "passkey-or-password"\nrequirement = "required"\n')
    with pytest.raises(PolicyError) as caught:
        load_policies(tmp_path)
    assert any("passkey.toml" in e and "needs to know who is signing in" in e for e in caught.value.errors)
    (tmp_path / "passkey.toml").write_text(
        'description = "x"\n\n[[step]]\ntype = "passkey"\nrequirement = "required"\nwhen = { mfa_proved = "yes" }\n')
    with pytest.raises(PolicyError) as caught:
        load_policies(tmp_path)
    assert any("passkey.toml:6" in e for e in caught.value.errors), caught.value.errors


def group_example_policies(directory: Path) -> Path:
    """The policies, with passkey.toml's second factor replaced by the group-only example of
    the README ("Policy file reference", "Passkeys")."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Passkeys"):text.index("### Checking your files")]
    example = section.split("```toml\n")[-1].split("```")[0]
    assert 'group = "passkey-pilot"' in example
    directory.mkdir(exist_ok=True)
    for name in ("browser.toml", "second-factor.toml", "passkey-or-password.toml", "upstream.toml"):
        (directory / name).write_text((ROOT / "policies" / name).read_text())
    shipped = (ROOT / "policies" / "passkey.toml").read_text()
    (directory / "passkey.toml").write_text(shipped[:shipped.rindex("[[step]]")] + example)
    return directory


class TestOnlyAGroupSignsInWithThePasskeyAlone:
    @pytest.fixture
    def config_overrides(self, tmp_path: Path) -> dict:
        return {"policy": {"default_flow": "passkey", "dir": str(group_example_policies(tmp_path / "policies"))}}

    def test_the_pilot_group_and_everyone_else(self, app, client, factory, rp, services):  # noqa: ANN001, F811
        factory.user(EMAIL, groups=("passkey-pilot",))
        factory.user("bob@example.com")
        alices, bobs = SoftAuthenticator(), SoftAuthenticator()
        register_key(services, EMAIL, alices)
        register_key(services, "bob@example.com", bobs)
        page, verifier = open_sign_in(browser := fresh(app), rp)
        assert claims_of(client, rp, answer_step(browser, page, alices), verifier)["amr"] == ["hwk", "user", "mfa"]
        page, verifier = open_sign_in(browser := fresh(app), rp)
        asked = answer_step(browser, page, bobs)                     # Bob: the passkey, then a second factor
        assert asked.location is None and "Use your security key or passkey" in asked.text
        done = answer_step(browser, asked, bobs)
        assert "mfa" in claims_of(client, rp, done, verifier)["amr"]
