"""Second factors: authenticators, one-time codes sent by email/SMS, recovery codes."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class SecondFactor(Base):
    """An enrolled (or pending, confirmed_at None) second factor of one user.

    `secret_encrypted` holds the TOTP secret (Fernet, key-encryption key). `target` is the email
    address or E.164 phone number a code is sent to. `last_step` is the last accepted TOTP time step:
    a code for that step or an earlier one is refused (replay guard shared by all workers)."""

    __tablename__ = "second_factor"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))          # totp | email | sms | webauthn
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    secret_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    target: Mapped[str | None] = mapped_column(sa.String(320))
    digits: Mapped[int] = mapped_column(default=6)
    period: Mapped[int] = mapped_column(default=30)
    algorithm: Mapped[str] = mapped_column(sa.String(10), default="SHA1")
    offset_steps: Mapped[int] = mapped_column(default=0)      # learned clock offset (RFC 6238 §6)
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RecoveryCode(Base):
    """A one-time recovery code, stored only as a keyed hash."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OtpChallenge(Base):
    """A code sent by email or SMS: keyed hash, expiry, wrong tries, single use."""

    __tablename__ = "otp_challenge"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    factor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("second_factor.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(10))       # email | sms
    purpose: Mapped[str] = mapped_column(sa.String(20))       # login | enrol | confirm (the wording of the message)
    # the one challenge this code answers (a digest naming the login transaction, fresh-proof request or enrolment):
    # a code is refused anywhere else, and sending one supersedes only the earlier codes of the same binding
    bound_to: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    code_digest: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)   # idp.purge deletes by it
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]
