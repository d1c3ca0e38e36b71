"""SCIM 2.0 provisioning (RFC 7643/7644): per-organisation bearer tokens (digests only), the SCIM view of
an account (externalId and the attributes an identity platform sent), and SCIM groups (whose members are
the accounts holding a UserGroup row of the same name)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .user import User


class ScimToken(Base):
    """A provisioning token of one organisation; only its SHA-256 digest is kept."""

    __tablename__ = "scim_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(sa.String(320))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ScimUser(Base):
    """What an identity platform said about an account: its externalId, and the SCIM attributes this
    server keeps but does not act on (title, phone numbers, enterprise extension ...), as sent."""

    __tablename__ = "scim_user"
    __table_args__ = (sa.Index("ix_scim_user_org_external_id", "organisation_id", "external_id"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    attributes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined")


class ScimGroup(Base):
    """A group pushed by an identity platform; members are the organisation's users holding a
    `user_group` row named `display_name` (so exempt lists and `group` conditions see them)."""

    __tablename__ = "scim_group"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "display_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scim_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
