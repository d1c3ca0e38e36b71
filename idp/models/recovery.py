"""Self-service account recovery: single-use links sent by email (password reset, email address
verification) and browsers a person chose to remember ("Don't ask again on this browser")."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .user import User


class AccountToken(Base):
    """The token of an emailed link; only its SHA-256 digest is kept. `purpose` binds it to one use
    ("password_reset" | "verify_email"), `user_id` to one account; `used_at` makes it single use
    (atomic UPDATE ... WHERE used_at IS NULL). `email` is the address a verify_email link confirms."""

    __tablename__ = "account_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(20))
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(sa.String(64))

    user: Mapped[User] = relationship()


class RememberedBrowser(Base):
    """A browser whose person ticked "Don't ask again on this browser": the long-lived cookie holds a random
    token, this row its SHA-256 digest. It lets that person skip the second factor (never the password)
    until `expires_at`, unless something since then (password change, new factor, 2FA reset) forgot it."""

    __tablename__ = "remembered_browser"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
