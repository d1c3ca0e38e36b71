"""ID token signing keys: in the database (private part encrypted), published before they sign.

A rotation publishes the new key in the JWKS at once, and the new key signs only PUBLICATION_DELAY later.
A worker reads the key table at most CHECK_INTERVAL seconds late and a relying party may keep a JWKS for
JWKS_MAX_AGE seconds (its Cache-Control), so by the time a key signs, every JWKS any worker serves, and
every copy a relying party may still use, contains it: no token names a kid its verifier cannot find."""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.orm import Session

from idp.clock import now
from idp.models import SigningKey
from idp.security.encryption import KeyEncryption

SUPPORTED_ALGS = ("RS256", "ES256")
JWKS_MAX_AGE = 300                         # seconds: Cache-Control max-age of the JWKS response
CHECK_INTERVAL = 5.0                       # seconds: a worker's key table copy is at most this old
PUBLICATION_DELAY = timedelta(minutes=10)  # > JWKS_MAX_AGE + CHECK_INTERVAL, with room for clock skew


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


def rotate_keys(db: Session, kek: KeyEncryption, keep_published: timedelta,
                delay: timedelta = PUBLICATION_DELAY) -> list[SigningKey]:
    """Add a new key per algorithm, published at once; it starts signing after `delay`, when the current
    key stops (`retired_at`); that one stays published for keep_published after. A delay shorter than
    PUBLICATION_DELAY lets a relying party see a token signed by a key its cached JWKS lacks."""
    switch = now() + delay
    for row in db.scalars(sa.select(SigningKey).where(SigningKey.retired_at.is_(None))):
        row.retired_at = switch
        row.unpublish_after = switch + keep_published
    return [create_signing_key(db, kek, alg) for alg in SUPPORTED_ALGS]


@dataclass(frozen=True)
class PublishedKey:
    kid: str
    alg: str
    retired_at: datetime | None    # signs until then (None: no successor yet)


@dataclass(frozen=True)
class LoadedKeys:
    """A worker's copy of the published keys: which one signs is decided at signing time (`signing_kid`)."""

    published: tuple[PublishedKey, ...]   # oldest first
    jwks: dict                            # the public JWK set document
    body: bytes                           # ... serialised (the same bytes on every worker)
    etag: str                             # a strong validator of `body`
    public: KeySet                        # the same as joserfc keys, to verify what we signed (id_token_hint)

    def signing_kid(self, alg: str, at: datetime) -> str:
        """The oldest key of `alg` not retired at `at`: a rotated key signs until its successor's turn."""
        for key in self.published:
            if key.alg == alg and (key.retired_at is None or key.retired_at > at):
                return key.kid
        raise RuntimeError(f"no active signing key for {alg}; run `idp db upgrade` or `idp keys rotate`")

    @property
    def signing_algs(self) -> frozenset[str]:
        return frozenset(key.alg for key in self.published if key.retired_at is None)


class KeyRing:
    """A worker's cache of the key table, read again every `check_interval` seconds (one small query), and
    of parsed private keys by kid (a key never changes once created, so that part is kept for good)."""

    def __init__(self, kek: KeyEncryption, check_interval: float = CHECK_INTERVAL) -> None:
        self._kek = kek
        self._interval = check_interval
        self._loaded: LoadedKeys | None = None
        self._version: tuple | None = None
        self._checked_at: datetime | None = None
        self._private: dict[str, object] = {}
        self._lock = threading.Lock()

    def get(self, db: Session | Callable[[], Session]) -> LoadedKeys:
        """The published keys; `db` is a session, or a function giving one (called only when the table is
        read, so that serving the JWKS from the cache opens no database session at all)."""
        if self._fresh():
            return self._loaded
        with self._lock:
            if not self._fresh():
                self._refresh(db() if callable(db) else db)
            return self._loaded

    def _fresh(self) -> bool:
        """Read less than check_interval ago, by the application's clock (tests move it)."""
        age = (now() - self._checked_at).total_seconds() if self._checked_at is not None else None
        return self._loaded is not None and age is not None and 0 <= age < self._interval

    def signing_key(self, db: Session | Callable[[], Session], alg: str, at: datetime | None = None) -> object:
        """The joserfc private key that signs `alg` at `at` (now): parsed once per key in this process."""
        kid = self.get(db).signing_kid(alg, at or now())
        key = self._private.get(kid)
        if key is None:
            session = db() if callable(db) else db
            encrypted = session.scalar(sa.select(SigningKey.private_jwk_encrypted).where(SigningKey.kid == kid))
            private = json.loads(self._kek.decrypt(encrypted))
            key = self._private[kid] = RSAKey.import_key(private) if private["kty"] == "RSA" \
                else ECKey.import_key(private)
        return key

    def _refresh(self, db: Session) -> None:
        current = now()
        rows = db.execute(sa.select(SigningKey.id, SigningKey.kid, SigningKey.alg, SigningKey.public_jwk,
                                    SigningKey.retired_at, SigningKey.unpublish_after)
                          .where(sa.or_(SigningKey.unpublish_after.is_(None), SigningKey.unpublish_after > current))
                          .order_by(SigningKey.id)).all()
        version = tuple((row.id, row.retired_at) for row in rows)
        if version != self._version:
            self._loaded = _loaded(rows)
            self._version = version
        self._checked_at = current


def _loaded(rows: list) -> LoadedKeys:
    published = tuple(PublishedKey(row.kid, row.alg, row.retired_at) for row in rows)
    if not all(any(k.alg == alg and k.retired_at is None for k in published) for alg in SUPPORTED_ALGS):
        raise RuntimeError("no active signing key; run `idp db upgrade` or `idp keys rotate`")
    jwks = {"keys": [row.public_jwk for row in rows]}
    body = json.dumps(jwks, separators=(",", ":"), sort_keys=True).encode()
    return LoadedKeys(published=published, jwks=jwks, body=body, etag=etag_of(body),
                      public=KeySet.import_key_set(jwks))


def etag_of(body: bytes) -> str:
    """A strong entity tag for a document: the same bytes give the same tag on every worker."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def public_key_set(keys: LoadedKeys) -> KeySet:
    return keys.public


__all__ = ["CHECK_INTERVAL", "JWKS_MAX_AGE", "PUBLICATION_DELAY", "KeyRing", "LoadedKeys", "PublishedKey",
           "create_signing_key", "ensure_signing_keys", "etag_of", "public_key_set", "rotate_keys"]
