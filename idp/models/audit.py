"""The append-only audit log, hash-chained per organisation."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(320))
    target_user_id: Mapped[int | None] = mapped_column(index=True)
    target: Mapped[str | None] = mapped_column(sa.String(320))
    event: Mapped[str] = mapped_column(sa.String(60), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(20), default="success")
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    prev_digest: Mapped[str] = mapped_column(sa.String(64))
    digest: Mapped[str] = mapped_column(sa.String(64))


class AuditChainHead(Base):
    """The last entry of an organisation's chain; locked while appending so two writers never fork it."""

    __tablename__ = "audit_chain_head"

    organisation_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    digest: Mapped[str] = mapped_column(sa.String(64))
