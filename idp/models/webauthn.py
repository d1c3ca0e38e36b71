"""WebAuthn (security keys and passkeys): the public-key credentials people registered, and the
single-use challenges of each ceremony (registration, sign-in, confirmation)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .credentials import SecondFactor


class WebAuthnCredential(Base):
    """One registered authenticator credential. It belongs to a SecondFactor row (kind "webauthn": the
    name the person chose, added / last used, `confirmed_at`), so enforcement counts it as a second factor
    and deleting the factor (removal, administrator's 2FA reset) deletes the credential with it.

    `credential_key` is the SHA-256 hex of the raw credential id: unique across ALL users (one
    credential can never belong to two accounts) and the lookup key of a passkey sign-in."""

    __tablename__ = "webauthn_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    factor_id: Mapped[int] = mapped_column(sa.ForeignKey("second_factor.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    credential_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    credential_id: Mapped[bytes] = mapped_column(sa.LargeBinary)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)         # COSE_Key, as the authenticator gave it
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    attachment: Mapped[str | None] = mapped_column(sa.String(20))     # "platform" | "cross-platform" | None
    aaguid: Mapped[str | None] = mapped_column(sa.String(36))
    backup_eligible: Mapped[bool] = mapped_column(default=False)      # a multi-device (synced) passkey
    backed_up: Mapped[bool] = mapped_column(default=False)
    discoverable: Mapped[bool | None]                                  # credProps.rk: usable without a username
    user_verified: Mapped[bool] = mapped_column(default=False)        # at registration
    created_at: Mapped[datetime]

    factor: Mapped[SecondFactor] = relationship()


class WebAuthnChallenge(Base):
    """A challenge handed to the browser for one ceremony; used once (atomic UPDATE of `used_at`), within
    `expires_at`, by the browser it was bound to (`binding`: digest of the login transaction or session)."""

    __tablename__ = "webauthn_challenge"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge: Mapped[str] = mapped_column(sa.String(128))            # base64url; a public nonce, not a secret
    purpose: Mapped[str] = mapped_column(sa.String(20))               # register | second_factor | passkey | confirm
    binding: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
