"""A small software WebAuthn authenticator for server-side tests: real EC P-256 keys (cryptography), real
authenticatorData / clientDataJSON bytes, "none" attestation (CBOR via cbor2, only here in the tests).

It answers the JSON options the server hands the browser with the JSON a browser posts back (what
static/webauthn.js builds), and lets a test bend any part: another origin, RP id, challenge, sign count,
user verification, user handle."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftAuthenticator:
    """One authenticator holding any number of credentials. `counter=False`: it keeps no sign count (always 0),
    like many passkeys. `transports` / `attachment` / `backup_eligible` describe it to the server."""

    origin: str = "http://localhost"
    rp_id: str = "localhost"
    transports: tuple[str, ...] = ("usb",)
    attachment: str = "cross-platform"
    backup_eligible: bool = False
    user_verifying: bool = True
    counter: bool = True
    credentials: dict[bytes, SoftCredential] = field(default_factory=dict)

    # ------------------------------------------------------------------ registration
    def register(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None,
                 challenge: str | None = None, credential_id: bytes | None = None,
                 private_key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
        """navigator.credentials.create(): a new credential for options["user"], "none" attestation."""
        rp = rp_id or options.get("rp", {}).get("id") or self.rp_id
        cred = SoftCredential(credential_id or secrets.token_bytes(32), private_key or ec.generate_private_key(ec.SECP256R1()),
                              rp, unb64url(options["user"]["id"]))
        self.credentials[cred.credential_id] = cred
        client_data = self._client_data("webauthn.create", challenge or options["challenge"], origin)
        attested = b"\x00" * 16 + struct.pack(">H", len(cred.credential_id)) + cred.credential_id + cred.cose_public_key()
        auth_data = self._auth_data(rp, AT | self._flags(), 0) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64url(cred.credential_id), "rawId": b64url(cred.credential_id), "type": "public-key",
                "authenticatorAttachment": self.attachment,
                "clientExtensionResults": {"credProps": {"rk": True}},
                "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                             "transports": list(self.transports)}}

    # ------------------------------------------------------------------ authentication
    def assertion(self, options: dict[str, Any], *, credential_id: bytes | None = None, origin: str | None = None,
                  rp_id: str | None = None, challenge: str | None = None, sign_count: int | None = None,
                  user_verified: bool | None = None, user_handle: bytes | None | bool = True) -> dict[str, Any]:
        """navigator.credentials.get(): an assertion by an allowed credential (or `credential_id`)."""
        cred = self._pick(options, credential_id)
        if sign_count is None:
            if self.counter:
                cred.sign_count += 1
            sign_count = cred.sign_count if self.counter else 0
        flags = self._flags(user_verified)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = self._auth_data(rp_id or cred.rp_id, flags, sign_count)
        signature = cred.private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        handle = cred.user_handle if user_handle is True else (user_handle or None)
        return {"id": b64url(cred.credential_id), "rawId": b64url(cred.credential_id), "type": "public-key",
                "authenticatorAttachment": self.attachment, "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature), "userHandle": b64url(handle) if handle else None}}

    # ------------------------------------------------------------------ pieces
    def _pick(self, options: dict[str, Any], credential_id: bytes | None) -> SoftCredential:
        if credential_id is not None:
            return self.credentials[credential_id]
        allowed = [unb64url(c["id"]) for c in options.get("allowCredentials") or []]
        for cid in allowed or list(self.credentials):
            if cid in self.credentials:
                return self.credentials[cid]
        raise AssertionError("this authenticator holds none of the allowed credentials")

    def _flags(self, user_verified: bool | None = None) -> int:
        verified = self.user_verifying if user_verified is None else user_verified
        flags = UP | (UV if verified else 0)
        if self.backup_eligible:
            flags |= BE | BS
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    @staticmethod
    def _auth_data(rp_id: str, flags: int, sign_count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)


def as_json(credential: dict[str, Any]) -> str:
    return json.dumps(credential)
