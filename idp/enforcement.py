"""Organisation-wide 2FA enforcement: who must use a second factor now, who is in grace, who is exempt."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.flow.facts import Enforcement, EnforcementStatus
from idp.models import SecondFactor, User


def has_second_factor(db: Session, user: User) -> bool:
    """True when the user has at least one confirmed second factor (recovery codes alone do not count)."""
    return db.scalar(sa.select(sa.func.count(SecondFactor.id)).where(
        SecondFactor.user_id == user.id, SecondFactor.confirmed_at.is_not(None))) > 0


def grace_deadline(user: User) -> datetime | None:
    """When the user's grace period ends: from enforcement or the user's creation, whichever is later."""
    org = user.organisation
    if not org.require_2fa or org.enforced_since is None:
        return None
    start = max(org.enforced_since, user.created_at)
    deadline = start + timedelta(days=org.grace_days)
    if user.grace_extended_until and user.grace_extended_until > deadline:
        deadline = user.grace_extended_until
    return deadline


def exemption(user: User) -> str | None:
    """Why the user is exempt (user or group on the exempt list), or None."""
    if user.exempt_from_2fa:
        return f"{user.email} is on the exempt list"
    groups = sorted(user.group_names & set(user.organisation.exempt_groups or []))
    if groups:
        return f"{user.email} is in exempt group {', '.join(groups)}"
    return None


def enforcement_status(db: Session, user: User, now: datetime) -> EnforcementStatus:
    org = user.organisation
    if not org.require_2fa:
        return EnforcementStatus(Enforcement.OFF, reason=f"{org.name} does not require two-factor authentication")
    why_exempt = exemption(user)
    if why_exempt:
        return EnforcementStatus(Enforcement.EXEMPT, reason=why_exempt)
    if has_second_factor(db, user):
        return EnforcementStatus(Enforcement.REQUIRED, reason=f"{org.name} requires 2FA; a second factor is enrolled")
    deadline = grace_deadline(user)
    if deadline is not None and now < deadline:
        days = math.ceil((deadline - now).total_seconds() / 86400)
        return EnforcementStatus(Enforcement.GRACE, days_left=days,
                                 reason=f"{org.name} requires 2FA; {days} day(s) of grace left to set it up")
    return EnforcementStatus(Enforcement.REQUIRED,
                             reason=f"{org.name} requires 2FA and the grace period is over")
