"""Rate-limit counters shared by every worker: one row per key and fixed time window (idp.ratelimit)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class RateLimitBucket(Base):
    """How many requests `key` (rule, scope and a digest of the IP/account/client) made in the window that
    starts at `window_start` (epoch seconds); incremented by an atomic upsert, deleted after `expires_at`."""

    __tablename__ = "rate_limit_bucket"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    window_start: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(index=True)
