"""People who sign in: account, groups, admin permissions, and the counters that protect them."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .org import Organisation


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(64), unique=True)      # the stable, opaque `sub`
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)       # lower-cased
    email_verified: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(sa.String(500))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    preferred_method: Mapped[str | None] = mapped_column(sa.String(40))
    exempt_from_2fa: Mapped[bool] = mapped_column(default=False)
    grace_extended_until: Mapped[datetime | None]
    # an administrator removed every second factor ("Reset Two-Factor Authentication"): while the
    # organisation requires 2FA the user gets no grace period and must set up a new one at once
    second_factor_reset_at: Mapped[datetime | None]
    # second-factor failures across sign-ins (all OTP methods together), apart from password failures
    otp_failures: Mapped[int] = mapped_column(default=0)
    otp_locked_until: Mapped[datetime | None]
    otp_lock_count: Mapped[int] = mapped_column(default=0)
    # unused since revision "lockout": wrong passwords are counted in attempt_counter (idp.attempts.counters)
    password_failures: Mapped[int] = mapped_column(default=0)
    password_retry_after: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    # loaded when first read (most requests never read them: a sign-in asks for groups only when a
    # condition or the exempt list names one)
    groups: Mapped[list["UserGroup"]] = relationship(cascade="all, delete-orphan")
    permissions: Mapped[list["UserPermission"]] = relationship(cascade="all, delete-orphan")

    # flask-login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    session_sid = None  # set when loaded through a browser session (not a column)

    def get_id(self) -> str | None:
        """flask-login keeps the browser session's id, so signing out anywhere takes effect everywhere."""
        return self.session_sid

    @property
    def group_names(self) -> frozenset[str]:
        return frozenset(g.name for g in self.groups)

    @property
    def permission_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.permissions)


class UserGroup(Base):
    __tablename__ = "user_group"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))


class UserPermission(Base):
    """An admin permission within the user's organisation (user_management, security_settings, ...)."""

    __tablename__ = "user_permission"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50))
