"""An organisation's branding: display name, accent colour and logo shown on sign-in and account pages."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class OrganisationBranding(Base):
    """One row per organisation that set any branding; the logo is a re-encoded PNG kept in the database
    (every worker and server serves the same bytes; nothing is fetched from another origin)."""

    __tablename__ = "organisation_branding"

    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"),
                                                 primary_key=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    accent_colour: Mapped[str | None] = mapped_column(sa.String(7))       # "#rrggbb", lower case
    logo_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)   # read only to serve it
    logo_digest: Mapped[str | None] = mapped_column(sa.String(64))        # SHA-256 hex: ETag and cache key
    logo_width: Mapped[int | None]
    logo_height: Mapped[int | None]
    updated_at: Mapped[datetime]
