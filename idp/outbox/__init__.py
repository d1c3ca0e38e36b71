"""The outbound job queue (no Flask): `enqueue` in the request's transaction, `drain` after it, in any worker."""
from __future__ import annotations

from .queue import enqueue

__all__ = ["enqueue"]
