"""Encryption at rest with the deployment's key-encryption key (Fernet: AES-128-CBC + HMAC-SHA256)."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class DecryptionError(Exception):
    """Stored ciphertext could not be decrypted with the configured key-encryption key."""


class KeyEncryption:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())
        self.raw_key = key.encode()

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise DecryptionError("stored secret cannot be decrypted with this key-encryption key") from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()
