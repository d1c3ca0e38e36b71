"""Random tokens and their digests: what we store instead of a token, a code or a client secret."""
from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    """A URL-safe random token (at least 256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    """SHA-256 hex digest of a high-entropy random value (tokens, codes, client secrets)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def digest_matches(value: str, expected_digest: str) -> bool:
    """Constant-time comparison of digest(value) with a stored digest."""
    return hmac.compare_digest(digest(value), expected_digest)


class Pepper:
    """Keyed hashing (HMAC-SHA256) for low-entropy secrets such as 6-digit codes and recovery codes,
    so a copy of the database alone does not allow guessing them offline."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"fentu-idp pepper v1\x00" + key).digest()

    def hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def matches(self, value: str, expected: str) -> bool:
        return hmac.compare_digest(self.hash(value), expected)
