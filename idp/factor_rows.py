"""A user's confirmed second-factor rows, read once per request (idp.session_memo) for every place that asks."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import session_memo
from idp.models import SecondFactor, User


def confirmed(db: Session, user: User) -> tuple[SecondFactor, ...]:
    """The user's confirmed second factors, in no particular order (idp.factors.enrolled orders them)."""
    return session_memo.remember(db, ("confirmed_factors", user.id), (SecondFactor.__tablename__,), lambda: tuple(
        db.scalars(sa.select(SecondFactor).where(SecondFactor.user_id == user.id,
                                                 SecondFactor.confirmed_at.is_not(None)))))
