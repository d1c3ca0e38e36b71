"""Passwords are NFKC-normalised before hashing and verifying (NIST SP 800-63B §5.1.1.2), hashes made
before that keep working once and are upgraded, and an imported bcrypt hash matches only passwords of
at most 72 bytes. Unit checks of idp.security.passwords, then the same through a real sign-in."""
from __future__ import annotations

import bcrypt
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from idp.models import User
from idp.security.passwords import Passwords
from tests.hardening.helpers import start

COMPOSED = "caf\u00e9 au lait sans sucre"            # é as one code point
DECOMPOSED = "cafe\u0301 au lait sans sucre"         # e + COMBINING ACUTE ACCENT (another keyboard)
FULL_WIDTH = "\uff30assphrase for the garden"        # Ｐ, as typed with an East Asian input method
EMAIL = "uni@example.com"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(memory_kib=1024, time_cost=1)


def test_the_same_password_typed_composed_or_decomposed_matches(passwords):
    stored = passwords.hash(DECOMPOSED)
    assert stored.startswith("$nfkc$argon2id$") and not passwords.needs_rehash(stored)
    assert passwords.verify(stored, COMPOSED) and passwords.verify(stored, DECOMPOSED)
    assert not passwords.verify(stored, "cafe au lait sans sucre")


def test_an_old_hash_of_the_password_as_typed_still_matches_and_must_be_redone(passwords):
    old = PasswordHasher(memory_cost=1024, time_cost=1).hash(FULL_WIDTH)       # made without normalising
    assert passwords.verify(old, FULL_WIDTH) and passwords.needs_rehash(old)
    assert not passwords.verify(old, "Passphrase for the garden")          # only what matched before


def test_bcrypt_ignores_nothing_beyond_72_bytes(passwords):
    seventy_two = "x" * 72
    stored = bcrypt.hashpw(seventy_two.encode(), bcrypt.gensalt(4)).decode()
    assert passwords.verify(stored, seventy_two)
    assert not passwords.verify(stored, seventy_two + "anything at all")
    assert not passwords.verify(stored, "\u00e9" * 37)                        # 74 bytes in UTF-8


# --- through the sign-in -----------------------------------------------------------------------------

def _set_hash(services, stored: str) -> None:  # noqa: ANN001
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == EMAIL)).password_hash = stored


def _hash(services) -> str:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(User.password_hash).where(User.email == EMAIL))


def _signs_in(app, rp, password: str) -> bool:  # noqa: ANN001
    from tests.support.browser import Browser

    done, _ = start(Browser(client=app.test_client()), rp, EMAIL, password)
    return bool(done.location and done.location.startswith(rp.redirect_uri))


def test_a_password_hashed_before_normalisation_is_upgraded_at_sign_in(app, services, factory):
    factory.user(EMAIL)
    rp = factory.client()
    _set_hash(services, PasswordHasher(memory_cost=1024, time_cost=1).hash(FULL_WIDTH))
    assert not _signs_in(app, rp, "Passphrase for the garden")              # the NFKC form: not yet
    assert _signs_in(app, rp, FULL_WIDTH)                                    # as typed then: accepted once
    assert _hash(services).startswith("$nfkc$argon2id$")                     # ... and stored normalised
    assert _signs_in(app, rp, "Passphrase for the garden") and _signs_in(app, rp, FULL_WIDTH)


def test_an_imported_bcrypt_hash_refuses_a_longer_password_with_the_same_72_bytes(app, services, factory):
    factory.user(EMAIL)
    rp = factory.client()
    seventy_two = "correct horse battery staple " * 2 + "x" * 14
    assert len(seventy_two.encode()) == 72
    imported = bcrypt.hashpw(seventy_two.encode(), bcrypt.gensalt(4)).decode()
    _set_hash(services, imported)
    assert not _signs_in(app, rp, seventy_two + " and then anything")
    assert _hash(services) == imported                                       # nothing re-hashed
    assert _signs_in(app, rp, seventy_two)
