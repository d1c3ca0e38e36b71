"""Outbound jobs (email, SMS, HTTP deliveries) queued in the request's transaction, sent after it by any worker."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class OutboxJob(Base):
    """One thing to send. `payload` is Fernet ciphertext (the key-encryption key) of a JSON object: it may hold
    a reset link or a code. A worker claims a row by setting `lease_until`/`lease_token` with a conditional
    UPDATE (PostgreSQL also skips rows locked by another worker); `attempts` counts claims; a job that failed
    `max_attempts` times is `dead` (kept for operators, `last_error` never holds the message)."""

    __tablename__ = "outbox_job"
    __table_args__ = (sa.Index("ix_outbox_job_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")   # pending | done | dead
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(sa.String(64))
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
