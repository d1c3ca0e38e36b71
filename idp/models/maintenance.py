"""Leases for periodic jobs shared by every worker and server (idp.purge): one row per job and its last run."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class MaintenanceLease(Base):
    """`name` ("purge") last ran at `last_run_at`; a process runs the job only after it moved this forward
    with `UPDATE ... WHERE last_run_at < now - interval` (rowcount 1 wins), so one run per interval in the
    whole deployment, however many workers and servers."""

    __tablename__ = "maintenance_lease"

    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    last_run_at: Mapped[datetime]
