"""A user's confirmed second-factor rows and count of unused recovery codes, read once per request
(idp.session_memo) for every place that asks, in one query when the factors are asked first."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import session_memo
from idp.fast_lookup import EntityLookup
from idp.models import RecoveryCode, SecondFactor, User

_FACTOR_TABLES = (SecondFactor.__tablename__,)
_CODE_TABLES = (RecoveryCode.__tablename__,)


def confirmed(db: Session, user: User) -> tuple[SecondFactor, ...]:
    """The user's confirmed second factors, in no particular order (idp.factors.enrolled orders them). The
    same query counts the user's unused recovery codes (asked next whenever there is a factor)."""
    return session_memo.remember(db, ("confirmed_factors", user.id), _FACTOR_TABLES,
                                 lambda: _factors_and_codes_left(db, user.id))


def codes_left(db: Session, user: User) -> int:
    """How many unused recovery codes the user has (until the request uses or replaces one)."""
    return session_memo.remember(db, _codes_key(user.id), _CODE_TABLES,
                                 lambda: db.scalar(_codes_left_count(user.id)) or 0)


def _factors_and_codes_left(db: Session, user_id: int) -> tuple[SecondFactor, ...]:
    rows = _FACTORS_AND_CODES_LEFT.all_in(db, user_id=user_id)
    if rows:
        session_memo.put(db, _codes_key(user_id), _CODE_TABLES, rows[0][1] or 0)
    return tuple(row[0] for row in rows)


def _codes_left_count(user_id: int | sa.BindParameter) -> sa.Select:
    return sa.select(sa.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user_id,
                                                          RecoveryCode.used_at.is_(None))


# The user's confirmed factors, each row with the count of the user's unused recovery codes: one precompiled
# statement (idp.fast_lookup).
_FACTORS_AND_CODES_LEFT = EntityLookup(
    (SecondFactor,),
    lambda columns: columns.add_columns(_codes_left_count(sa.bindparam("user_id")).scalar_subquery())
    .where(SecondFactor.user_id == sa.bindparam("user_id"), SecondFactor.confirmed_at.is_not(None)))


def _codes_key(user_id: int) -> tuple[str, int]:
    return ("recovery_codes_left", user_id)
