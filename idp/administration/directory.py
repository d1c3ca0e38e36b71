"""Administration > Users as a list: search, filter by 2FA state, sort, pages — each row's 2FA state is
computed in SQL (one query per page, no query per user) so the list stays fast with 100,000 users."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.enforcement import confirmed_factor_users
from idp.models import Organisation, User, UserGroup

from .permissions import USER_MANAGEMENT, AdminScope

PER_PAGE = 25
STATES = ("enrolled", "grace", "overdue", "not_enrolled", "exempt", "locked")
FILTERS = ("enrolled", "grace", "overdue", "exempt", "locked")
STATE_LABELS = {"enrolled": "Enrolled", "grace": "In grace", "overdue": "Overdue", "not_enrolled": "Not enrolled",
                "exempt": "Exempt", "locked": "Locked"}
SORTS = {"email": (User.email,), "name": (User.name, User.email), "last_sign_in": (User.last_login_at, User.email),
         "created": (User.created_at, User.email)}
SORT_LABELS = {"email": "Email", "name": "Name", "last_sign_in": "Last sign-in", "created": "Created"}


@dataclass(frozen=True)
class Query:
    text: str = ""
    state: str = ""          # one of FILTERS, or "" for everyone
    sort: str = "email"
    descending: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: dict) -> Query:
        """From the page's query string; unknown values fall back to the defaults (never an error page)."""
        state = args.get("state", "")
        sort = args.get("sort", "email")
        try:
            page = max(1, int(args.get("page", 1)))
        except (TypeError, ValueError):
            page = 1
        return cls(text=" ".join((args.get("q") or "").split())[:200], state=state if state in FILTERS else "",
                   sort=sort if sort in SORTS else "email", descending=args.get("dir") == "desc", page=page)


@dataclass(frozen=True)
class Row:
    user: User
    state: str               # one of STATES


@dataclass(frozen=True)
class Directory:
    rows: list[Row]
    total: int               # matching the search and filter
    page: int
    pages: int
    query: Query
    counts: dict[str, int]   # active users by 2FA state (the rollout numbers), whatever the search


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _conditions(org: Organisation, now: datetime) -> dict[str, sa.ColumnElement[bool]]:
    """SQL conditions for each 2FA state, mirroring idp.enforcement (grace_deadline, exemption, status)."""
    exempt_groups = list(org.exempt_groups or [])
    exempt = User.exempt_from_2fa.is_(True)
    if exempt_groups:
        exempt = sa.or_(exempt, User.id.in_(sa.select(UserGroup.user_id).where(UserGroup.name.in_(exempt_groups))))
    enrolled = User.id.in_(confirmed_factor_users())
    extended = sa.and_(User.grace_extended_until.is_not(None), User.grace_extended_until > now)
    if org.require_2fa and org.enforced_since is not None:
        cutoff = now - timedelta(days=org.grace_days)
        base_open = sa.true() if org.enforced_since > cutoff else User.created_at > cutoff
        reset_closes = sa.and_(User.second_factor_reset_at.is_not(None),
                               User.second_factor_reset_at >= org.enforced_since,
                               User.second_factor_reset_at >= User.created_at, User.second_factor_reset_at <= now)
        grace = sa.or_(sa.and_(base_open, sa.not_(reset_closes)), extended)
    else:
        grace = sa.false()
    required = sa.true() if org.require_2fa else sa.false()
    locked = sa.and_(User.otp_locked_until.is_not(None), User.otp_locked_until > now, User.otp_failures == 0)
    return {"exempt": exempt, "enrolled": sa.and_(sa.not_(exempt), enrolled),
            "grace": sa.and_(required, sa.not_(exempt), sa.not_(enrolled), grace),
            "overdue": sa.and_(required, sa.not_(exempt), sa.not_(enrolled), sa.not_(grace)),
            "locked": locked}


def _state_column(conds: dict[str, sa.ColumnElement[bool]]) -> sa.ColumnElement[str]:
    return sa.case((conds["locked"], "locked"), (conds["exempt"], "exempt"), (conds["enrolled"], "enrolled"),
                   (conds["grace"], "grace"), (conds["overdue"], "overdue"), else_="not_enrolled")


def rollout_counts(db: Session, org: Organisation, now: datetime) -> dict[str, int]:
    """Active users of the organisation per state, in one aggregate query (locked users count in their
    enrolment state too, and once more as locked)."""
    conds = _conditions(org, now)
    columns = [sa.func.coalesce(sa.func.sum(sa.case((conds[name], 1), else_=0)), 0).label(name)
               for name in ("enrolled", "grace", "overdue", "exempt", "locked")]
    row = db.execute(sa.select(sa.func.count(User.id).label("active"), *columns)
                     .where(User.organisation_id == org.id, User.is_active.is_(True))).one()
    counts = {key: int(value or 0) for key, value in row._mapping.items()}
    counts["not_enrolled"] = counts["active"] - counts["enrolled"] - counts["grace"] - counts["overdue"] - counts["exempt"]
    return counts


def search(db: Session, scope: AdminScope, org: Organisation, query: Query, now: datetime,
           per_page: int = PER_PAGE) -> Directory:
    """One page of the organisation's users matching `query`, each with its 2FA state."""
    scope.require(USER_MANAGEMENT)
    conds = _conditions(org, now)
    where = [User.organisation_id == org.id]
    if query.text:
        pattern = _like(query.text)
        where.append(sa.or_(sa.func.lower(User.email).like(pattern, escape="\\"),
                            sa.func.lower(User.name).like(pattern, escape="\\")))
    if query.state:
        where.append(conds[query.state])
        if query.state != "locked":
            where.append(User.is_active.is_(True))
    total = db.scalar(sa.select(sa.func.count(User.id)).where(*where)) or 0
    pages = max(1, -(-total // per_page))
    page = min(query.page, pages)
    order = [c.desc().nulls_last() if query.descending else c.asc().nulls_last() for c in SORTS[query.sort]]
    order.append(User.id)
    result = db.execute(sa.select(User, _state_column(conds).label("state")).where(*where).order_by(*order)
                        .limit(per_page).offset((page - 1) * per_page))
    rows = [Row(user, state) for user, state in result]
    return Directory(rows, total, page, pages, query, rollout_counts(db, org, now))
