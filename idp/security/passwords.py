"""Password hashing with argon2id (OWASP parameters by default), upgrade on login, no user enumeration.

Hashes imported from other systems are accepted until the person next signs in, then replaced by argon2id
(`needs_rehash` is true for them): bcrypt (`$2a$`, `$2b$`, `$2y$`) and Django's PBKDF2
(`pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
PBKDF2_PREFIX = "pbkdf2_sha256$"
PBKDF2_MAX_ITERATIONS = 10_000_000   # refuse absurd work factors (a crafted hash must not stall a worker)
BCRYPT_MAX_BYTES = 72                # bcrypt only ever used the first 72 bytes of a password


class Passwords:
    """Hash and verify passwords; `verify` does the same work for an unknown account."""

    def __init__(self, memory_kib: int = 19456, time_cost: int = 2, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism, type=Type.ID)
        self._dummy_hash = self._hasher.hash("not a password: equalises timing for unknown accounts")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; an unknown account (None) or an unknown hash format costs the
        same as a wrong password."""
        try:
            if stored_hash is not None and stored_hash.startswith("$argon2"):
                return self._hasher.verify(stored_hash, password)
            if stored_hash is not None and stored_hash.startswith(BCRYPT_PREFIXES):
                return _verify_bcrypt(stored_hash, password)
            if stored_hash is not None and stored_hash.startswith(PBKDF2_PREFIX):
                return _verify_pbkdf2(stored_hash, password)
            self._hasher.verify(self._dummy_hash, password)
            return False
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True for imported formats (bcrypt, PBKDF2) and argon2 hashes with outdated parameters."""
        if not stored_hash.startswith("$argon2"):
            return True
        return self._hasher.check_needs_rehash(stored_hash)


def hash_format_problem(stored_hash: str) -> str | None:
    """Why `stored_hash` is not a hash `Passwords.verify` understands, or None when it is one.
    Used when importing accounts, so a bad record is refused instead of locking its owner out."""
    if stored_hash.startswith("$argon2"):
        try:
            from argon2 import extract_parameters
            extract_parameters(stored_hash)
        except (InvalidHashError, ValueError, IndexError):
            return "password_hash: not a valid argon2 hash"
        return None
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


def _verify_bcrypt(stored_hash: str, password: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:BCRYPT_MAX_BYTES], stored_hash.encode("ascii"))
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
