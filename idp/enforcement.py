"""Organisation-wide 2FA enforcement: who must use a second factor now, who is in grace, who is exempt."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import factor_rows
from idp.flow.facts import Enforcement, EnforcementStatus
from idp.models import SecondFactor, User
from idp.wording import day, moment, plural


def has_second_factor(db: Session, user: User) -> bool:
    """True when the user has at least one confirmed second factor (recovery codes alone do not count)."""
    return bool(factor_rows.confirmed(db, user))


def grace_deadline(user: User) -> datetime | None:
    """When the user's grace period ends: from enforcement or the user's creation, whichever is later;
    at once after an administrator reset their second factors (while enforced); an extension wins."""
    org = user.organisation
    if not org.require_2fa or org.enforced_since is None:
        return None
    start = max(org.enforced_since, user.created_at)
    deadline = start + timedelta(days=org.grace_days)
    reset = user.second_factor_reset_at
    if reset is not None and reset >= start:    # an admin reset while enforced: no grace left
        deadline = min(deadline, reset)
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
                                 reason=f"{org.name} requires 2FA; {plural(days, 'day')} of grace left to set it up")
    return EnforcementStatus(Enforcement.REQUIRED,
                             reason=f"{org.name} requires 2FA and the grace period is over")


# --- for administrators: who would be affected, and why a user is (not) asked ------------------------

def confirmed_factor_users() -> sa.Select:
    """SELECT of the ids of users having at least one confirmed second factor."""
    return sa.select(SecondFactor.user_id).where(SecondFactor.confirmed_at.is_not(None)).distinct()


def would_be_blocked(db: Session, organisation_id: int, *, exempt_emails: frozenset[str] | None = None,
                     exempt_groups: frozenset[str] | None = None, now: datetime) -> list[User]:
    """Active users of the organisation who would be stopped at their next sign-in if 2FA were enforced
    right now with no grace period: not exempt (by the given lists, else the stored ones), no second
    factor, and no personal grace extension still running."""
    from idp.models import Organisation, UserGroup

    org = db.get(Organisation, organisation_id)
    groups = set(org.exempt_groups or []) if exempt_groups is None else set(exempt_groups)
    query = (sa.select(User).where(User.organisation_id == organisation_id, User.is_active.is_(True),
                                   User.id.not_in(confirmed_factor_users()))
             .order_by(User.email))
    if groups:
        query = query.where(User.id.not_in(sa.select(UserGroup.user_id).where(UserGroup.name.in_(groups))))
    blocked = []
    for user in db.scalars(query):
        exempt = user.exempt_from_2fa if exempt_emails is None else user.email in exempt_emails
        extended = user.grace_extended_until is not None and user.grace_extended_until > now
        if not exempt and not extended:
            blocked.append(user)
    return blocked


def explain(db: Session, user: User, now: datetime) -> list[str]:
    """Plain sentences answering "Why is (or isn't) this user asked for 2FA?" (admin user detail)."""
    org = user.organisation
    status = enforcement_status(db, user, now)
    enrolled = has_second_factor(db, user)
    lines = []
    if not org.require_2fa:
        lines.append(f"{org.name} does not require two-factor authentication "
                     "(Administration > Settings > Security).")
    else:
        since = day(org.enforced_since) if org.enforced_since else "an unknown date"
        grace = "no grace period" if org.grace_days == 0 else f"a grace period of {plural(org.grace_days, 'day')}"
        lines.append(f"{org.name} requires two-factor authentication since {since}, with {grace}.")
    why_exempt = exemption(user)
    if why_exempt and org.require_2fa:
        lines.append(f"Exempt: {why_exempt}, so the requirement does not apply.")
    elif why_exempt:
        lines.append(f"On the exempt list ({why_exempt}); this matters only once 2FA is required.")
    if enrolled:
        lines.append("The user has a second factor set up, so it is asked for at every sign-in.")
    else:
        lines.append("The user has no second factor set up.")
    if status.state is Enforcement.GRACE:
        deadline = grace_deadline(user)
        lines.append(f"In the grace period: {plural(status.days_left, 'day')} left (until {moment(deadline)}); "
                     "signing in shows a reminder but does not require a second factor yet.")
        if user.grace_extended_until and deadline == user.grace_extended_until:
            lines.append("The grace period was extended for this user by an administrator.")
    elif status.state is Enforcement.REQUIRED and not enrolled:
        lines.append("The grace period is over: at the next sign-in the user must set up a second factor "
                     "before anything else.")
    if user.second_factor_reset_at and not enrolled:
        lines.append(f"An administrator reset the user's two-factor authentication on "
                     f"{user.second_factor_reset_at:%Y-%m-%d %H:%M} UTC.")
    if not user.is_active:
        lines.append("The account is disabled: the user cannot sign in at all.")
    if user.password_hash is None:
        lines.append("The user has not chosen a password yet (invitation not accepted).")
    lines.append("Local login (no SSO): this organisation's 2FA applies in full to sign-ins with the password.")
    return lines
