"""Organisations: Fentu FSM's customers, each with its own users, settings, providers and audit log."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base

if TYPE_CHECKING:
    from .branding import OrganisationBranding


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    support_contact: Mapped[str] = mapped_column(sa.String(200), default="")
    # Administration > Settings > Security
    require_2fa: Mapped[bool] = mapped_column(default=False)
    grace_days: Mapped[int] = mapped_column(default=0)
    enforced_since: Mapped[datetime | None]
    allowed_methods: Mapped[list[str]] = mapped_column(sa.JSON, default=list)   # empty = all
    exempt_groups: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    remember_browser_days: Mapped[int] = mapped_column(default=0)

    domains: Mapped[list["OrganisationDomain"]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="OrganisationDomain.domain")
    # what its pages show (idp.web.branding); loaded with the account at sign-in (idp.accounts.find_by_email)
    branding: Mapped["OrganisationBranding | None"] = relationship(viewonly=True)


class OrganisationDomain(Base):
    """An email domain owned by an organisation (routes sign-in and new accounts there)."""

    __tablename__ = "organisation_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(sa.String(253), unique=True)

    organisation: Mapped[Organisation] = relationship(back_populates="domains")
