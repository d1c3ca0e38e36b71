"""Failed-attempt counters (idp.attempts.counters): one row per kind, scope and digest of who is counted."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class AttemptCounter(Base):
    """Consecutive failures of one `kind` of secret ("password", ...) for one `scope`: the account
    ("account"), the account from one network address ("address") or one device cookie ("device").
    `key` and `account_key` are SHA-256 digests: neither an email address nor an IP address is stored."""

    __tablename__ = "attempt_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)          # digest of kind, scope and who
    kind: Mapped[str] = mapped_column(sa.String(20))
    scope: Mapped[str] = mapped_column(sa.String(10))
    account_key: Mapped[str] = mapped_column(sa.String(64), index=True)   # digest of kind and account
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(index=True)
