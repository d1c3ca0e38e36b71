"""Password hashing with argon2id (OWASP parameters by default), upgrade on login, no user enumeration.

Passwords are normalised with Unicode NFKC before hashing and verifying (NIST SP 800-63B §5.1.1.2), so
"é" typed as one code point or as "e" + combining accent, or a full-width "Ａ", is the same password on
every keyboard. Hashes made that way carry the prefix `$nfkc` (`$nfkc$argon2id$v=19$...`). A hash without
it (made before, or imported) is tried with the normalised password first, then with the password as
typed; `needs_rehash` is true for it, so the next sign-in stores the normalised form and the fallback ends.

Hashes imported from other systems are accepted until the person next signs in, then replaced by argon2id
(`needs_rehash` is true for them): bcrypt (`$2a$`, `$2b$`, `$2y$`; only for passwords of at most 72 bytes,
since bcrypt ignores the rest) and Django's PBKDF2 (`pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import unicodedata

import bcrypt
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.config import argon2_limits_problem
from idp.security import argon2_area

log = logging.getLogger("idp.security")
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
ARGON2_HEAD = re.compile(r"\$argon2(?:id|i|d)\$(?:v=[0-9]+\$)?m=[0-9]+,t=[0-9]+,p=[0-9]+\$[^$]+\$[^$]+\Z")
PBKDF2_PREFIX = "pbkdf2_sha256$"
PBKDF2_MAX_ITERATIONS = 10_000_000   # refuse absurd work factors (a crafted hash must not stall a worker)
BCRYPT_MAX_BYTES = 72                # bcrypt only ever used the first 72 bytes of a password
NORMALISED_PREFIX = "$nfkc"          # the hash after it was made from the NFKC form of the password


def normalise(password: str) -> str:
    """The form a password is hashed and verified in: Unicode NFKC (NIST SP 800-63B §5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


class Passwords:
    """Hash and verify passwords; `verify` does the same work for an unknown account."""

    def __init__(self, memory_kib: int = 19456, time_cost: int = 2, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism, type=Type.ID)
        self._dummy_hash = self._hasher.hash("not a password: equalises timing for unknown accounts")

    def hash(self, password: str) -> str:
        """`$nfkc` + the argon2id hash of the normalised password."""
        return NORMALISED_PREFIX + self._hasher.hash(normalise(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; an unknown account (None) or an unknown hash format costs the
        same as a wrong password. A hash made without normalisation also matches the password as typed."""
        if stored_hash is not None and stored_hash.startswith(NORMALISED_PREFIX):
            return self._verify_one(stored_hash[len(NORMALISED_PREFIX):], normalise(password))
        normalised = normalise(password)
        if self._verify_one(stored_hash, normalised):
            return True
        return stored_hash is not None and normalised != password and self._verify_one(stored_hash, password)

    def _verify_one(self, stored_hash: str | None, password: str) -> bool:
        try:
            if stored_hash is not None and stored_hash.startswith("$argon2"):
                return self._verify_argon2(stored_hash, password)
            if stored_hash is not None and stored_hash.startswith(BCRYPT_PREFIXES):
                return _verify_bcrypt(stored_hash, password)
            if stored_hash is not None and stored_hash.startswith(PBKDF2_PREFIX):
                return _verify_pbkdf2(stored_hash, password)
            self._verify_argon2(self._dummy_hash, password)
            return False
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _verify_argon2(self, stored_hash: str, password: str) -> bool:
        """argon2id with its work area on a mapping of its own (idp.security.argon2_area), else argon2-cffi;
        False without any work for parameters beyond the limits."""
        problem = argon2_parameters_problem(stored_hash)
        if problem:
            log.warning("password check refused: %s", problem)
            return False
        matched = argon2_area.verify(stored_hash, password)
        return self._hasher.verify(stored_hash, password) if matched is None else matched

    def needs_rehash(self, stored_hash: str) -> bool:
        """True for hashes made without normalisation, imported formats (bcrypt, PBKDF2) and argon2 hashes
        with outdated parameters."""
        if not stored_hash.startswith(NORMALISED_PREFIX + "$argon2"):
            return True
        return self._hasher.check_needs_rehash(stored_hash[len(NORMALISED_PREFIX):])


def hash_format_problem(stored_hash: str) -> str | None:
    """Why `stored_hash` is not a hash `Passwords.verify` understands, or None when it is one.
    Used when importing accounts, so a bad record is refused instead of locking its owner out."""
    if stored_hash.startswith(NORMALISED_PREFIX + "$argon2"):
        stored_hash = stored_hash[len(NORMALISED_PREFIX):]
    if stored_hash.startswith("$argon2"):
        problem = argon2_parameters_problem(stored_hash)
        return f"password_hash: {problem}" if problem else None
    if stored_hash.startswith(BCRYPT_PREFIXES):
        parts = stored_hash.split("$")
        if len(parts) != 4 or not parts[2].isdigit() or not 4 <= int(parts[2]) <= 31 or len(parts[3]) != 53:
            return "password_hash: not a valid bcrypt hash ($2b$<cost>$<53 characters>)"
        return None
    if stored_hash.startswith(PBKDF2_PREFIX):
        parsed = _parse_pbkdf2(stored_hash)
        if parsed is None:
            return (f"password_hash: not a valid PBKDF2 hash (pbkdf2_sha256$<iterations 1..{PBKDF2_MAX_ITERATIONS}>"
                    "$<salt>$<base64 hash>)")
        return None
    return "password_hash: unsupported format (argon2, bcrypt $2b$ or pbkdf2_sha256$... expected)"


def argon2_parameters_problem(stored_hash: str) -> str | None:
    """Why an argon2 hash cannot be checked (malformed, or parameters beyond the limits), or None."""
    if not ARGON2_HEAD.match(stored_hash):
        return "not a valid argon2 hash"        # e.g. a parameter twice: argon2-cffi's parser keeps the last one
    try:
        parameters = extract_parameters(stored_hash)
    except (InvalidHashError, ValueError, IndexError):
        return "not a valid argon2 hash"
    return argon2_limits_problem(parameters.memory_cost, parameters.time_cost, parameters.parallelism)


def _verify_bcrypt(stored_hash: str, password: str) -> bool:
    """bcrypt looks at the first 72 bytes only: a longer password is not a match (it would let anything
    that starts the same way in, and then become the new password at the upgrade)."""
    secret = password.encode("utf-8")
    if len(secret) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(secret, stored_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


def _parse_pbkdf2(stored_hash: str) -> tuple[int, str, bytes] | None:
    parts = stored_hash.split("$")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2] or "$" in parts[2]:
        return None
    iterations = int(parts[1])
    if not 1 <= iterations <= PBKDF2_MAX_ITERATIONS:
        return None
    try:
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(expected) < 16:
        return None
    return iterations, parts[2], expected


def _verify_pbkdf2(stored_hash: str, password: str) -> bool:
    parsed = _parse_pbkdf2(stored_hash)
    if parsed is None:
        return False
    iterations, salt, expected = parsed
    derived = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("utf-8"), iterations,
                                  dklen=len(expected))
    return hmac.compare_digest(derived, expected)
