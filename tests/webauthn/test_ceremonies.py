"""idp.factors.webauthn against a software authenticator: registration and assertions accepted, and every
refusal (bad challenge, wrong origin, wrong RP id, sign-count regression, someone else's credential, a replayed
assertion, a used or expired challenge, missing user verification) refused, with nothing changed, and audited."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from idp.audit import Actor
from idp.enforcement import has_second_factor
from idp.factors import webauthn
from idp.models import AuditEvent, SecondFactor, User, WebAuthnCredential
from tests.support.soft_authenticator import SoftAuthenticator, b64url

ALICE, BOB = "alice@example.com", "bob@example.com"
ACTOR = Actor("test")
BOUND = webauthn.binding("sid", "test-session")


@pytest.fixture
def people(factory):  # noqa: ANN001, ANN201
    return factory.user(ALICE), factory.user(BOB)


def user(db, email: str) -> User:  # noqa: ANN001
    return db.scalar(sa.select(User).where(User.email == email))


def register(services, email: str, key: SoftAuthenticator, name: str = "My key", **bend) -> SecondFactor:  # noqa: ANN001
    with services.database.session() as db:     # committed even when refused, as a request is
        person = user(db, email)
        challenge_id, options = webauthn.registration_options(db, services.config, person, BOUND)
        answer = key.register(json.loads(options), **bend)
        try:
            return webauthn.register(db, services.config, person, BOUND, challenge_id, json.dumps(answer), name, ACTOR)
        except webauthn.WebAuthnError as err:
            failure = err
    raise failure


def challenge(services, email: str | None, purpose: str = "second_factor") -> tuple[int, dict]:  # noqa: ANN001
    with services.database.session() as db:
        person = user(db, email) if email else None
        row = webauthn.new_challenge(db, purpose, BOUND, person.id if person else None)
        return row.id, json.loads(webauthn.authentication_options(db, services.config, row, person))


def authenticate(services, email: str | None, challenge_id: int, answer: dict, purpose: str = "second_factor",
                 **kwargs) -> webauthn.Verified:  # noqa: ANN001
    with services.database.session() as db:     # committed even when refused, as a request is
        person = user(db, email) if email else None
        try:
            return webauthn.authenticate(db, services.config, purpose=purpose, bound_to=BOUND,
                                         challenge_id=challenge_id, credential_json=json.dumps(answer), user=person,
                                         actor=ACTOR, **kwargs)
        except webauthn.WebAuthnError as err:
            failure = err
    raise failure


def refused(services, email: str | None, challenge_id: int, answer: dict, reason: str, **kwargs) -> webauthn.WebAuthnError:  # noqa: ANN001
    with pytest.raises(webauthn.WebAuthnError) as caught:
        authenticate(services, email, challenge_id, answer, **kwargs)
    assert caught.value.reason == reason, caught.value.reason
    return caught.value


def events(services, name: str) -> list[AuditEvent]:  # noqa: ANN001
    with services.database.session() as db:
        return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)))


def test_rp_id_and_origin_come_from_the_issuer(services):  # noqa: ANN001
    rp = webauthn.relying_party(services.config)
    assert (rp.id, rp.origin) == ("localhost", "http://localhost")


def test_relying_party_of_other_issuers():
    from tests.support.configs import make_config

    config = make_config("sqlite://", issuer="https://IdP.Example.com:443/auth")
    assert webauthn.relying_party(config) == webauthn.RelyingParty("idp.example.com", "https://idp.example.com",
                                                                   "Fentu FSM")
    config = make_config("sqlite://", issuer="http://localhost:8123")
    assert webauthn.relying_party(config).origin == "http://localhost:8123"


def test_registration_stores_a_confirmed_second_factor(services, people):  # noqa: ANN001
    factor = register(services, ALICE, SoftAuthenticator(), "Blue YubiKey")
    with services.database.session() as db:
        row = db.get(SecondFactor, factor.id)
        cred = db.scalar(sa.select(WebAuthnCredential).where(WebAuthnCredential.factor_id == factor.id))
        assert (row.kind, row.name, row.confirmed_at is not None) == ("webauthn", "Blue YubiKey", True)
        assert cred.transports == ["usb"] and cred.discoverable is True and cred.sign_count == 0
        assert has_second_factor(db, user(db, ALICE))     # enforcement counts it


def test_several_keys_per_user_and_second_factor_assertion(services, people):  # noqa: ANN001
    usb, phone = SoftAuthenticator(), SoftAuthenticator(transports=("internal", "hybrid"), attachment="platform")
    register(services, ALICE, usb, "USB key")
    register(services, ALICE, phone, "Phone")
    with services.database.session() as db:
        assert [f.name for f, _ in webauthn.keys(db, user(db, ALICE))] == ["USB key", "Phone"]
    challenge_id, options = challenge(services, ALICE)
    assert len(options["allowCredentials"]) == 2 and options["rpId"] == "localhost"
    verified = authenticate(services, ALICE, challenge_id, usb.assertion(options))
    assert verified.amr == "hwk" and verified.user.email == ALICE
    challenge_id, options = challenge(services, ALICE)
    assert authenticate(services, ALICE, challenge_id, phone.assertion(options)).amr == "swk"
    with services.database.session() as db:
        assert all(f.last_used_at is not None for f, _ in webauthn.keys(db, user(db, ALICE)))


def test_a_synced_passkey_is_swk(services, people):  # noqa: ANN001
    synced = SoftAuthenticator(transports=("usb",), backup_eligible=True, counter=False)
    register(services, ALICE, synced)
    challenge_id, options = challenge(services, ALICE)
    assert authenticate(services, ALICE, challenge_id, synced.assertion(options)).amr == "swk"
    challenge_id, options = challenge(services, ALICE)      # no counter (always 0): still accepted
    assert authenticate(services, ALICE, challenge_id, synced.assertion(options)).amr == "swk"


def test_bad_challenge_is_refused_and_audited(services, people):  # noqa: ANN001
    key = SoftAuthenticator()
    register(services, ALICE, key)
    challenge_id, options = challenge(services, ALICE)
    err = refused(services, ALICE, challenge_id, key.assertion(options, challenge=b64url(b"x" * 32)), "invalid")
    assert err.counts
    assert "challenge" in events(services, "webauthn_refused")[-1].details["detail"]
    # the challenge is used up by the wrong answer: the right one cannot follow on it
    refused(services, ALICE, challenge_id, key.assertion(options), "challenge")


def test_wrong_origin_is_refused(services, people):  # noqa: ANN001
    key = SoftAuthenticator()
    register(services, ALICE, key)
    challenge_id, options = challenge(services, ALICE)
    refused(services, ALICE, challenge_id, key.assertion(options, origin="http://evil.example"), "invalid")
    assert "origin" in events(services, "webauthn_refused")[-1].details["detail"]


def test_wrong_rp_id_is_refused(services, people):  # noqa: ANN001
    key = SoftAuthenticator()
    register(services, ALICE, key)
    challenge_id, options = challenge(services, ALICE)
    refused(services, ALICE, challenge_id, key.assertion(options, rp_id="evil.example"), "invalid")
    assert "RP ID" in events(services, "webauthn_refused")[-1].details["detail"]


def test_registration_with_wrong_origin_or_rp_id_is_refused(services, people):  # noqa: ANN001
    for bend in ({"origin": "http://evil.example"}, {"rp_id": "evil.example"}, {"challenge": b64url(b"y" * 32)}):
        with pytest.raises(webauthn.WebAuthnError) as caught:
            register(services, ALICE, SoftAuthenticator(), **bend)
        assert caught.value.reason == "invalid"
    with services.database.session() as db:
        assert not has_second_factor(db, user(db, ALICE))


def test_sign_count_regression_is_refused_and_audited(services, people):  # noqa: ANN001
    key = SoftAuthenticator()
    factor = register(services, ALICE, key)
    challenge_id, options = challenge(services, ALICE)
    authenticate(services, ALICE, challenge_id, key.assertion(options, sign_count=7))
    for count in (7, 3):                       # the same count again, or a lower one: a cloned key?
        challenge_id, options = challenge(services, ALICE)
        err = refused(services, ALICE, challenge_id, key.assertion(options, sign_count=count), "sign_count_regression")
        assert err.counts
    logged = events(services, "webauthn_sign_count_regression")
    assert len(logged) == 2 and logged[-1].details["factor_id"] == factor.id and logged[-1].outcome == "failure"
    with services.database.session() as db:
        assert db.scalar(sa.select(WebAuthnCredential.sign_count)) == 7
    challenge_id, options = challenge(services, ALICE)
    authenticate(services, ALICE, challenge_id, key.assertion(options, sign_count=8))


def test_someone_elses_credential_is_refused_and_audited(services, people):  # noqa: ANN001
    bobs = SoftAuthenticator()
    register(services, BOB, bobs)
    register(services, ALICE, SoftAuthenticator())
    challenge_id, options = challenge(services, ALICE)
    forged = bobs.assertion(options, credential_id=next(iter(bobs.credentials)))
    refused(services, ALICE, challenge_id, forged, "foreign_credential")
    logged = events(services, "webauthn_foreign_credential")
    assert len(logged) == 1 and logged[0].target == ALICE


def test_a_credential_registered_to_another_account_cannot_be_registered_again(services, people):  # noqa: ANN001
    key = SoftAuthenticator()
    register(services, BOB, key)
    cid = next(iter(key.credentials))
    with pytest.raises(webauthn.WebAuthnError) as caught:
        register(services, ALICE, key, credential_id=cid, private_key=key.credentials[cid].private_key)
    assert caught.value.reason == "foreign_credential"
    assert events(services, "webauthn_foreign_credential")[0].target == ALICE


def test_a_replayed_assertion_is_refused(services, people):  # noqa: ANN001
    key = SoftAuthenticator(counter=False)           # no counter: only the single-use challenge stops a replay
    register(services, ALICE, key)
    challenge_id, options = challenge(services, ALICE)
    answer = key.assertion(options)
    authenticate(services, ALICE, challenge_id, answer)
    refused(services, ALICE, challenge_id, answer, "challenge")
    fresh_id, _ = challenge(services, ALICE)          # nor on a new challenge: it signed the old one
    refused(services, ALICE, fresh_id, answer, "invalid")


def test_challenges_expire_and_are_bound_to_purpose_and_browser(services, people, frozen_clock):  # noqa: ANN001
    key = SoftAuthenticator()
    register(services, ALICE, key)
    challenge_id, options = challenge(services, ALICE)
    frozen_clock.advance(minutes=6)
    refused(services, ALICE, challenge_id, key.assertion(options), "challenge")
    challenge_id, options = challenge(services, ALICE, purpose="confirm")
    refused(services, ALICE, challenge_id, key.assertion(options), "challenge")        # asked for another purpose
    challenge_id, options = challenge(services, ALICE)
    with services.database.session() as db, pytest.raises(webauthn.WebAuthnError):
        webauthn.authenticate(db, services.config, purpose="second_factor", bound_to=webauthn.binding("sid", "other"),
                              challenge_id=challenge_id, credential_json=json.dumps(key.assertion(options)),
                              user=user(db, ALICE), actor=ACTOR)


def test_passkey_needs_user_verification_and_finds_the_owner(services, people):  # noqa: ANN001
    key = SoftAuthenticator(transports=("internal",), attachment="platform")
    register(services, ALICE, key)
    challenge_id, options = challenge(services, None, "passkey")
    assert options["allowCredentials"] == []
    err = refused(services, None, challenge_id, key.assertion(options, user_verified=False), "user_verification",
                  purpose="passkey", require_user_verification=True)
    assert not err.counts
    challenge_id, options = challenge(services, None, "passkey")
    verified = authenticate(services, None, challenge_id, key.assertion(options), purpose="passkey",
                            require_user_verification=True)
    assert verified.user.email == ALICE and verified.amr == "swk" and verified.user_verified
    challenge_id, options = challenge(services, None, "passkey")     # a user handle that is not the owner's
    refused(services, None, challenge_id, key.assertion(options, user_handle=b"someone-else"), "user_handle",
            purpose="passkey")


def test_an_unknown_credential_and_garbage_are_refused(services, people):  # noqa: ANN001
    stranger = SoftAuthenticator()
    challenge_id, options = challenge(services, None, "passkey")
    stranger.register({"user": {"id": b64url(b"nobody")}, "challenge": options["challenge"], "rp": {"id": "localhost"}})
    refused(services, None, challenge_id, stranger.assertion(options), "unknown_credential", purpose="passkey")
    challenge_id, _ = challenge(services, ALICE)
    with services.database.session() as db:
        for junk in ("", "{", "[]", "x" * 70000):
            with pytest.raises(webauthn.WebAuthnError):
                webauthn.authenticate(db, services.config, purpose="second_factor", bound_to=BOUND,
                                      challenge_id=challenge_id, credential_json=junk, user=user(db, ALICE), actor=ACTOR)


def test_removing_the_factor_removes_the_credential(services, people):  # noqa: ANN001
    from idp.factors import enrolled

    factor = register(services, ALICE, SoftAuthenticator())
    with services.database.session() as db:
        enrolled.remove_factor(db, user(db, ALICE), factor.id)
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(WebAuthnCredential.id))) == 0


def test_names_are_required_and_short(services, people):  # noqa: ANN001
    with pytest.raises(webauthn.WebAuthnError):
        register(services, ALICE, SoftAuthenticator(), "   ")
    with pytest.raises(webauthn.WebAuthnError):
        register(services, ALICE, SoftAuthenticator(), "x" * 61)
    factor = register(services, ALICE, SoftAuthenticator(), "  Two   words ")
    assert factor.name == "Two words"
