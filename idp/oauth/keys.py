"""ID token signing keys: kept in the database (private part encrypted), loaded once as key objects."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.orm import Session

from idp.clock import now
from idp.models import SigningKey
from idp.security.encryption import KeyEncryption

SUPPORTED_ALGS = ("RS256", "ES256")


def create_signing_key(db: Session, kek: KeyEncryption, alg: str) -> SigningKey:
    """Generate a key for alg, store it (private JWK encrypted) and return the row."""
    key = RSAKey.generate_key(2048, private=True) if alg == "RS256" else ECKey.generate_key("P-256", private=True)
    kid = key.thumbprint()
    private = key.as_dict(private=True, kid=kid, alg=alg, use="sig")
    public = key.as_dict(private=False, kid=kid, alg=alg, use="sig")
    row = SigningKey(kid=kid, alg=alg, public_jwk=public, created_at=now(),
                     private_jwk_encrypted=kek.encrypt(json.dumps(private).encode()))
    db.add(row)
    db.flush()
    return row


def ensure_signing_keys(db: Session, kek: KeyEncryption) -> None:
    """Make sure one active key per supported algorithm exists (first start of a deployment)."""
    for alg in SUPPORTED_ALGS:
        active = db.scalar(sa.select(SigningKey.id).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None)))
        if active is None:
            create_signing_key(db, kek, alg)


def rotate_keys(db: Session, kek: KeyEncryption, keep_published: timedelta) -> list[SigningKey]:
    """Add a new active key per algorithm; old ones stop signing but stay published for keep_published."""
    current = now()
    for row in db.scalars(sa.select(SigningKey).where(SigningKey.retired_at.is_(None))):
        row.retired_at = current
        row.unpublish_after = current + keep_published
    return [create_signing_key(db, kek, alg) for alg in SUPPORTED_ALGS]


@dataclass(frozen=True)
class LoadedKeys:
    signing: dict[str, object]   # alg -> joserfc key with private part
    jwks: dict                   # the public JWK set document
    version: tuple
    public: KeySet | None = None  # the same as joserfc keys, to verify what we signed (id_token_hint)


class KeyRing:
    """Per-process cache of key objects; reloaded when the key table changes (checked every few seconds)."""

    def __init__(self, kek: KeyEncryption, check_interval: float = 5.0) -> None:
        self._kek = kek
        self._interval = check_interval
        self._loaded: LoadedKeys | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def get(self, db: Session | Callable[[], Session]) -> LoadedKeys:
        """The keys; `db` is a session, or a function giving one (called only when the table is checked,
        so that serving the JWKS from the cache opens no database session at all)."""
        if self._loaded is not None and time.monotonic() - self._checked_at < self._interval:
            return self._loaded
        with self._lock:
            if callable(db):
                db = db()
            version = _version(db)
            if self._loaded is None or self._loaded.version != version:
                self._loaded = self._load(db, version)
            self._checked_at = time.monotonic()
            return self._loaded

    def _load(self, db: Session, version: tuple) -> LoadedKeys:
        rows = list(db.scalars(sa.select(SigningKey).order_by(SigningKey.id)))
        current = now()
        signing = {}
        published = []
        for row in rows:
            if row.retired_at is None:
                signing[row.alg] = RSAKey.import_key(self._private(row)) if row.alg == "RS256" \
                    else ECKey.import_key(self._private(row))
            if row.unpublish_after is None or row.unpublish_after > current:
                published.append(row.public_jwk)
        if not all(alg in signing for alg in SUPPORTED_ALGS):
            raise RuntimeError("no active signing key; run `idp db upgrade` or `idp keys rotate`")
        jwks = {"keys": published}
        return LoadedKeys(signing=signing, jwks=jwks, version=version, public=KeySet.import_key_set(jwks))

    def _private(self, row: SigningKey) -> dict:
        return json.loads(self._kek.decrypt(row.private_jwk_encrypted))


def _version(db: Session) -> tuple:
    """Changes whenever a key is added, retired or unpublished."""
    count, max_id, retired = db.execute(sa.select(
        sa.func.count(SigningKey.id), sa.func.max(SigningKey.id),
        sa.func.count(SigningKey.retired_at))).one()
    hour = int(now().timestamp() // 3600)  # unpublishing happens with time passing
    return (count, max_id, retired, hour)


def public_key_set(keys: LoadedKeys) -> KeySet:
    return keys.public or KeySet.import_key_set(keys.jwks)


__all__ = ["KeyRing", "LoadedKeys", "create_signing_key", "ensure_signing_keys", "rotate_keys",
           "public_key_set"]
