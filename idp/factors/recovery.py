"""Recovery codes: ten one-time codes shown once, stored only as keyed hashes, consumed atomically."""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import factor_rows
from idp.clock import now
from idp.models import RecoveryCode, User

if TYPE_CHECKING:
    from idp.services import Services

COUNT = 10
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"   # no 0/o, 1/l/i: 31 symbols, 12 of them ≈ 59 bits
GROUPS, GROUP_LENGTH = 3, 4


def _new_code() -> str:
    """One code, readable: "7kq2-m9xd-4hpa"."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    return "-".join(groups)


def normalise(code: str | None) -> str:
    """Lower case, without spaces or dashes, as stored: "7KQ2 M9XD-4hpa" → "7kq2m9xd4hpa"."""
    return "".join(ch for ch in (code or "").strip().lower() if ch not in " -\t")


def generate(db: Session, services: "Services", user: User) -> list[str]:
    """A new set of codes for the user; the previous set stops working at once. Show the result once."""
    db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(COUNT)]
    created = now()
    db.add_all(RecoveryCode(user_id=user.id, code_digest=services.pepper.hash(normalise(code)), created_at=created)
               for code in codes)
    db.flush()
    return codes


def consume(db: Session, services: "Services", user: User, code: str) -> bool:
    """Use up `code` if it is one of the user's unused codes; of two concurrent uses exactly one wins."""
    cleaned = normalise(code)
    if len(cleaned) != GROUPS * GROUP_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return False
    row_id = db.scalar(sa.select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_digest == services.pepper.hash(cleaned),
        RecoveryCode.used_at.is_(None)))
    if row_id is None:
        return False
    result = db.execute(sa.update(RecoveryCode)
                        .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
                        .values(used_at=now())
                        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def remaining(db: Session, user: User) -> int:
    """How many unused codes the user has left (read once per request until the request uses or replaces one)."""
    return factor_rows.codes_left(db, user)
