"""Administration > Users: search and detail within one organisation, and the actions on a user —
reset two-factor authentication, unlock, disable/enable, groups, and invitations (the user chooses
their own password through a single-use link; an administrator never picks or sees it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import accounts, audit, enforcement, outbox
from idp.accounts import AccountError
from idp.attempts import counters as attempts
from idp.audit import Actor
from idp.browser import sessions
from idp.factors import enrolled, lockout, recovery, registry
from idp.flow.facts import EnforcementStatus
from idp.models import (
    BrowserSession,
    Invitation,
    Organisation,
    OtpChallenge,
    RecoveryCode,
    SecondFactor,
    User,
    UserGroup,
)
from idp.notices import notify_security_event
from idp.security.password_policy import check_new_password
from idp.security.secrets import digest, new_token
from idp.signin import transactions

from .permissions import USER_MANAGEMENT, AdminError, AdminScope, NotFound
from .settings import check_reason

if TYPE_CHECKING:
    from idp.config import AppConfig
    from idp.services import Services

PER_PAGE = 25
INVITATION_DAYS = 7
REPROOF_WINDOW = timedelta(minutes=10)
NOT_FOUND = "There is no such user in this organisation."


# --- finding users ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UserPage:
    users: list[User]
    total: int
    page: int
    pages: int
    query: str


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def search(db: Session, scope: AdminScope, query: str = "", page: int = 1, per_page: int = PER_PAGE) -> UserPage:
    """Users of the scope's organisation whose name or email contains `query`, by email, one page."""
    scope.require(USER_MANAGEMENT)
    text = " ".join((query or "").split())[:200]
    where = [User.organisation_id == scope.organisation_id]
    if text:
        pattern = _like(text)
        where.append(sa.or_(sa.func.lower(User.email).like(pattern, escape="\\"),
                            sa.func.lower(User.name).like(pattern, escape="\\")))
    total = db.scalar(sa.select(sa.func.count(User.id)).where(*where)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    users = list(db.scalars(sa.select(User).where(*where).order_by(User.email)
                            .limit(per_page).offset((page - 1) * per_page)))
    return UserPage(users, total, page, pages, text)


def get(db: Session, scope: AdminScope, user_id: int | str) -> User:
    """The user with this id if the administrator manages their organisation; NotFound otherwise."""
    try:
        key = int(user_id)
    except (TypeError, ValueError):
        raise NotFound(NOT_FOUND) from None
    user = db.get(User, key)
    if user is None or not scope.sees(user.organisation_id):
        raise NotFound(NOT_FOUND)
    return user


def by_email(db: Session, scope: AdminScope, email: str) -> User:
    user = accounts.find_by_email(db, email or "")
    if user is None or not scope.sees(user.organisation_id):
        raise NotFound(f"There is no user {accounts.normalise_email(email or '')} in this organisation.")
    return user


# --- the detail view ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FactorInfo:
    kind: str
    label: str
    shown_as: str            # masked address or phone number, or the factor's name; never a secret
    added: datetime
    last_used: datetime | None


@dataclass(frozen=True)
class UserDetail:
    user: User
    factors: list[FactorInfo]
    recovery_codes_left: int
    last_sign_in: datetime | None
    locked_until: datetime | None
    enforcement: EnforcementStatus
    explanation: list[str]
    invitation: Invitation | None     # an open invitation (no password chosen yet)
    active_sessions: int
    password_failures: int = 0        # wrong passwords in a row, from anywhere (idp.attempts.counters)
    password_locked: bool = False     # untrusted browsers are locked out


def federation_lines(db: Session, user: User, config: "AppConfig | None") -> list[str]:
    """How sign-ins through an upstream provider (SSO) count for this user's 2FA, per linked provider."""
    from idp.federation import providers, scenarios
    from idp.models import UpstreamIdentity

    lines = []
    for link in db.scalars(sa.select(UpstreamIdentity).where(UpstreamIdentity.user_id == user.id)
                           .order_by(UpstreamIdentity.provider)):
        try:
            if config is None:
                raise LookupError(link.provider)
            provider = providers.get(db, config, link.provider)
        except LookupError:
            lines.append(f"Linked to the identity provider {link.provider!r}, which is not configured any more.")
            continue
        scenario = scenarios.scenario_of(provider)
        lines.append(f"Also signs in through {provider.display_name} — {scenario.label}: {scenario.words}.")
    return lines


def detail(db: Session, user: User, now: datetime, config: "AppConfig | None" = None) -> UserDetail:
    factors = []
    for f in enrolled.active_factors(db, user):
        kind = registry.factor_type(f.kind)
        label = kind.label if kind is not None else f.kind
        shown = kind.describe(f) if kind is not None and f.target else f.name or label
        factors.append(FactorInfo(f.kind, label, shown, f.created_at, f.last_used_at))
    failures, locked = attempts.account_state(db, config, "password", user.email)
    live = db.scalar(sa.select(sa.func.count(BrowserSession.id)).where(
        BrowserSession.user_id == user.id, BrowserSession.ended_at.is_(None), BrowserSession.expires_at > now)) or 0
    return UserDetail(user=user, factors=factors, recovery_codes_left=recovery.remaining(db, user),
                      last_sign_in=user.last_login_at, locked_until=lockout.is_locked(user, now),
                      enforcement=enforcement.enforcement_status(db, user, now),
                      explanation=enforcement.explain(db, user, now) + federation_lines(db, user, config),
                      invitation=open_invitation(db, user, now),
                      active_sessions=live, password_failures=failures, password_locked=locked)


# --- re-proof before a reset ------------------------------------------------------------------------------

def recently_proved(db: Session, admin: User, session: BrowserSession | None, now: datetime) -> bool:
    """Whether the administrator proved it is them within REPROOF_WINDOW: their second factor (used
    at a sign-in, or a step-up) — or, when they have none, their password."""
    if session is None:
        return False
    cutoff = now - REPROOF_WINDOW
    if session.step_up_at is not None and session.step_up_at >= cutoff:
        return True
    if enforcement.has_second_factor(db, admin):
        # only a proof made in THIS browser session counts (a factor used elsewhere says nothing about it)
        return "mfa" in (session.amr or []) and session.auth_time >= cutoff
    return session.auth_time >= cutoff


# --- actions ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResetResult:
    factors_removed: list[str]
    recovery_codes_removed: int
    sessions_ended: int
    notified: bool


def reset_2fa(db: Session, services: "Services", scope: AdminScope, target: User, reason: str, actor: Actor,
              *, now: datetime) -> ResetResult:
    """Remove every second factor, recovery code and pending code of `target`, sign them out everywhere
    (refresh tokens revoked), stop their sign-ins in progress, email them, and audit it with the reason.
    When their organisation enforces 2FA they must set up a new factor at the next sign-in."""
    scope.require(USER_MANAGEMENT)
    if not scope.sees(target.organisation_id):
        raise NotFound(NOT_FOUND)
    if scope.actor_user_id is not None and scope.actor_user_id == target.id:
        raise AdminError("You cannot reset your own two-factor authentication here. Use Profile > Security, "
                         "or ask another administrator.")
    why = check_reason(reason)
    transactions.stop_for_user(db, target.id)     # first: the sign-ins' lock order
    kinds = list(db.scalars(sa.select(SecondFactor.kind).where(SecondFactor.user_id == target.id)
                            .order_by(SecondFactor.id)))
    codes = db.scalar(sa.select(sa.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == target.id)) or 0
    db.execute(sa.delete(OtpChallenge).where(OtpChallenge.user_id == target.id))
    db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == target.id))
    db.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == target.id))
    target.preferred_method = None
    target.second_factor_reset_at = now      # while 2FA is required: set up a new one at the next sign-in
    target.grace_extended_until = None
    lockout.unlock(target)
    ended = sessions.end_all(db, target.id)
    db.flush()
    notified = notify_security_event(services, target, "second_factor_reset")
    audit.record(db, "second_factor_reset", actor, organisation_id=target.organisation_id, target_user_id=target.id,
                 target=target.email, details={"reason": why, "factors_removed": kinds,
                                               "recovery_codes_removed": codes, "sessions_ended": ended,
                                               "user_notified": notified})
    return ResetResult(kinds, codes, ended, notified)


def unlock(db: Session, scope: AdminScope, target: User, reason: str, actor: Actor, *, now: datetime) -> bool:
    """Lift a second-factor lock (and reset the password failure count); False if there was none."""
    scope.require(USER_MANAGEMENT)
    if not scope.sees(target.organisation_id):
        raise NotFound(NOT_FOUND)
    why = check_reason(reason, required=False)
    locked_until = lockout.is_locked(target, now)
    was = bool(locked_until) or target.otp_failures > 0 or target.password_failures > 0
    lockout.unlock(target)
    target.password_failures, target.password_retry_after = 0, None
    was = attempts.reset(db, "password", target.email) or was     # the wrong-password limits of every client
    audit.record(db, "user_unlocked", actor, organisation_id=target.organisation_id, target_user_id=target.id,
                 target=target.email, details={"reason": why,
                                               "was_locked_until": locked_until.isoformat() if locked_until else None})
    db.flush()
    return was


def set_active(db: Session, scope: AdminScope, target: User, active: bool, reason: str, actor: Actor,
               *, now: datetime) -> bool:
    """Disable (signs the user out everywhere, closes open invitations) or enable an account; False when
    it already was so. Audited with the reason."""
    scope.require(USER_MANAGEMENT)
    if not scope.sees(target.organisation_id):
        raise NotFound(NOT_FOUND)
    if not active and scope.actor_user_id == target.id:
        raise AdminError("You cannot disable your own account.")
    why = check_reason(reason, required=not active)
    if target.is_active == active:
        return False
    if not active:
        transactions.stop_for_user(db, target.id)     # first: the sign-ins' lock order
    target.is_active = active
    details: dict = {"reason": why}
    if not active:
        details["sessions_ended"] = sessions.end_all(db, target.id)
        _close_invitations(db, target, now)
    audit.record(db, "user_enabled" if active else "user_disabled", actor, organisation_id=target.organisation_id,
                 target_user_id=target.id, target=target.email, details=details)
    db.flush()
    return True


def delete(db: Session, scope: AdminScope, target: User, reason: str, actor: Actor, *, now: datetime) -> None:
    """Remove an account for good: it is first disabled (set_active: signed out everywhere, refresh tokens
    revoked, sign-ins in progress stopped), then the row goes with everything that hangs off it. The audit
    log keeps who it was (email and subject); the address may later be given to a new account, which gets
    a new `sub`."""
    scope.require(USER_MANAGEMENT)
    if not scope.sees(target.organisation_id):
        raise NotFound(NOT_FOUND)
    if scope.actor_user_id == target.id:
        raise AdminError("You cannot delete your own account.")
    why = check_reason(reason)
    set_active(db, scope, target, False, why, actor, now=now)
    audit.record(db, "user_deleted", actor, organisation_id=target.organisation_id, target_user_id=target.id,
                 target=target.email, details={"reason": why, "subject": target.subject})
    db.delete(target)
    db.flush()


def add_group(db: Session, target: User, group: str, actor: Actor) -> bool:
    from .settings import parse_groups

    names = parse_groups(group)
    if len(names) != 1:
        raise AdminError("give one group name")
    name = names[0]
    if name in target.group_names:
        return False
    target.groups.append(UserGroup(name=name))
    db.flush()
    audit.record(db, "group_member_added", actor, organisation_id=target.organisation_id, target_user_id=target.id,
                 target=target.email, details={"group": name})
    return True


def remove_group(db: Session, target: User, group: str, actor: Actor) -> bool:
    rows = [g for g in target.groups if g.name == group.strip()]
    if not rows:
        return False
    for row in rows:
        target.groups.remove(row)
    db.flush()
    audit.record(db, "group_member_removed", actor, organisation_id=target.organisation_id,
                 target_user_id=target.id, target=target.email, details={"group": group.strip()})
    return True


# --- invitations ------------------------------------------------------------------------------------------

class InvitationError(AdminError):
    """The invitation link cannot be used (unknown, used, replaced or expired) or the password is refused."""


INVALID_LINK = ("This invitation link is not valid any more: it was already used, replaced by a newer one, or it "
                "has expired. Ask your administrator to send a new invitation.")


def invitation_link(services: "Services", token: str) -> str:
    return f"{services.config.issuer}/invitation/{token}"


def _close_invitations(db: Session, user: User, now: datetime) -> None:
    db.execute(sa.update(Invitation).where(Invitation.user_id == user.id, Invitation.used_at.is_(None),
                                           Invitation.revoked_at.is_(None))
               .values(revoked_at=now).execution_options(synchronize_session=False))


def open_invitation(db: Session, user: User, now: datetime) -> Invitation | None:
    return db.scalar(sa.select(Invitation).where(
        Invitation.user_id == user.id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None),
        Invitation.expires_at > now).order_by(Invitation.id.desc()).limit(1))


def _require_mail(services: "Services") -> None:
    if not services.mailer.enabled:
        raise AdminError("Email is not enabled on this server, so an invitation cannot be sent. Ask the "
                         "deployment operator to configure [email].")


def _tell_owner(db: Session, services: "Services", owner: User, inviting: Organisation, actor: Actor) -> None:
    """Someone tried to invite `owner`'s address to another organisation: tell them (nothing else changes),
    and note it in their organisation's audit log. The email leaves after the commit (idp.outbox)."""
    issuer = services.config.totp.issuer
    body = (f"Hello{' ' + owner.name if owner.name else ''},\n\nSomeone tried to invite this address "
            f"({owner.email}) to a new account at {issuer} for the organisation {inviting.name}. "
            "No account was created and your account was not changed: an address can belong to one account "
            f"only.\nIf that was expected, ask them to contact the administrators of your organisation at "
            f"{issuer}; if not, you can ignore this email.\n\n-- {issuer}\n")
    outbox.enqueue(db, services.kek, "email", {"to": owner.email, "body": body,
                                               "subject": f"{issuer}: someone tried to invite your address"})
    audit.record(db, "invitation_blocked", actor, organisation_id=owner.organisation_id, target_user_id=owner.id,
                 target=owner.email, details={"inviting_organisation": inviting.slug, "owner_notified": True})


def _send_invitation(db: Session, services: "Services", user: User, actor: Actor, now: datetime) -> Invitation:
    """A new single-use link (older open ones stop working), emailed to the user once the transaction commits."""
    _require_mail(services)
    _close_invitations(db, user, now)
    token = new_token()
    invitation = Invitation(user_id=user.id, token_digest=digest(token), created_by=actor.name, created_at=now,
                            expires_at=now + timedelta(days=INVITATION_DAYS))
    db.add(invitation)
    db.flush()
    issuer = services.config.totp.issuer
    org = user.organisation.name
    body = (f"Hello{' ' + user.name if user.name else ''},\n\nAn account was created for you at {issuer} "
            f"({org}).\nChoose your password with this link (valid for {INVITATION_DAYS} days, usable once):\n\n"
            f"{invitation_link(services, token)}\n\nIf you did not expect this email, ignore it.\n\n-- {issuer}\n")
    outbox.enqueue(db, services.kek, "email", {"to": user.email, "subject": f"{issuer}: your new account",
                                               "body": body})   # sent after the commit (idp.outbox)
    return invitation


def invite(db: Session, services: "Services", scope: AdminScope, email: str, name: str, actor: Actor,
           *, now: datetime) -> User | None:
    """A new account without a password in the scope's organisation, and an invitation email.
    All or nothing: the invitation email is queued in the same transaction as the account (idp.outbox).

    An address that already has an account in another organisation gets no account and no invitation;
    its owner is told by email instead, and the administrator's answer is the same as for a new account
    (None instead of the user): an organisation's administrators must not learn who has an account
    elsewhere (addresses are unique across organisations)."""
    scope.require(USER_MANAGEMENT)
    org = db.get(Organisation, scope.organisation_id)
    clean_name = " ".join((name or "").split())
    if len(clean_name) > 200:
        raise AdminError("Name: at most 200 characters")
    try:
        address = accounts.checked_email(email or "")
    except AccountError as exc:
        raise AdminError(str(exc)) from None
    owner = accounts.organisation_for_email(db, address)
    if owner is not None and owner.id != org.id:
        raise AdminError(f"Addresses at {address.rpartition('@')[2]} belong to another organisation.")
    _require_mail(services)
    existing = accounts.find_by_email(db, address)
    if existing is not None and existing.organisation_id == org.id:
        raise AdminError(f"{address} already has an account in this organisation.")
    if existing is not None:
        _tell_owner(db, services, existing, org, actor)
        return None
    with db.begin_nested():
        user = accounts.create_user(db, services.passwords, address, organisation=org, name=clean_name)
        invitation = _send_invitation(db, services, user, actor, now)
        audit.record(db, "user_invited", actor, organisation_id=org.id, target_user_id=user.id, target=user.email,
                     details={"name": clean_name, "expires_at": invitation.expires_at.isoformat()})
    return user


def resend_invitation(db: Session, services: "Services", scope: AdminScope, target: User, actor: Actor,
                      *, now: datetime) -> Invitation:
    scope.require(USER_MANAGEMENT)
    if not scope.sees(target.organisation_id):
        raise NotFound(NOT_FOUND)
    if target.password_hash is not None:
        raise AdminError(f"{target.email} has already chosen a password.")
    if not target.is_active:
        raise AdminError(f"{target.email} is disabled; enable the account first.")
    with db.begin_nested():
        invitation = _send_invitation(db, services, target, actor, now)
        audit.record(db, "user_invited", actor, organisation_id=target.organisation_id, target_user_id=target.id,
                     target=target.email, details={"resent": True, "expires_at": invitation.expires_at.isoformat()})
    return invitation


def find_invitation(db: Session, token: str, now: datetime) -> Invitation:
    """The usable invitation for this link's token, or InvitationError."""
    row = db.scalar(sa.select(Invitation).where(Invitation.token_digest == digest(token or "")))
    if (row is None or row.used_at is not None or row.revoked_at is not None or row.expires_at <= now
            or not row.user.is_active or row.user.password_hash is not None):
        raise InvitationError(INVALID_LINK)
    return row


def accept_invitation(db: Session, services: "Services", token: str, password: str, confirm: str,
                      *, now: datetime, ip: str | None = None, user_agent: str | None = None) -> User:
    """Set the invited user's own password; the link works once (atomic claim)."""
    invitation = find_invitation(db, token, now)
    problems = check_new_password(password or "", single_factor=not enforcement.has_second_factor(db, invitation.user),
                                  email=invitation.user.email, config=services.config.passwords)
    if problems:
        raise InvitationError(" ".join(problems))
    if password != confirm:
        raise InvitationError("The two passwords are not the same.")
    claimed = db.execute(sa.update(Invitation).where(
        Invitation.id == invitation.id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise InvitationError(INVALID_LINK)
    user = invitation.user
    user.password_hash = services.passwords.hash(password)
    user.password_changed_at = now
    user.email_verified = True
    audit.record(db, "invitation_accepted", Actor(f"user:{user.email}", ip, user_agent),
                 organisation_id=user.organisation_id, target_user_id=user.id, target=user.email)
    db.flush()
    return user

