"""A user's confirmed second-factor rows, read once per request (idp.session_memo) for every place that asks."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import session_memo
from idp.factors import recovery
from idp.models import SecondFactor, User


def confirmed(db: Session, user: User) -> tuple[SecondFactor, ...]:
    """The user's confirmed second factors, in no particular order (idp.factors.enrolled orders them). The
    same query counts the user's unused recovery codes (asked next whenever there is a factor)."""
    return session_memo.remember(db, ("confirmed_factors", user.id), (SecondFactor.__tablename__,),
                                 lambda: _factors_and_codes_left(db, user.id))


def _factors_and_codes_left(db: Session, user_id: int) -> tuple[SecondFactor, ...]:
    left = recovery.remaining_count(user_id).scalar_subquery()
    rows = db.execute(sa.select(SecondFactor, left).where(SecondFactor.user_id == user_id,
                                                          SecondFactor.confirmed_at.is_not(None))).all()
    if rows:
        recovery.remember_remaining(db, user_id, rows[0][1] or 0)
    return tuple(row[0] for row in rows)
