"""User accounts: creation, lookup by email, password checks (same work for unknown accounts)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import identifiers
from idp.clock import now
from idp.models import Organisation, OrganisationDomain, User, UserPermission
from idp.security.passwords import Passwords
from idp.security.secrets import new_token

PASSWORD_FREE_TRIES = 5     # consecutive wrong passwords before the account is throttled
PASSWORD_HARD_LIMIT = 100   # then locked until an admin unlocks it or the password is reset (NIST: ≤ 100)
ADMIN_PERMISSIONS = ("user_management", "security_settings", "audit_read", "client_management")
PERMISSIONS = ADMIN_PERMISSIONS + ("system_admin",)


class AccountError(ValueError):
    """A refused account operation, with a message fit for the person who asked."""


def normalise_email(email: str) -> str:
    """The form addresses are stored and looked up in (idp.identifiers: NFKC, case-folded, IDNA domain)."""
    return identifiers.normalise_email(email)


def checked_email(email: str) -> str:
    """The normalised address for a new account, or AccountError saying why it cannot be one."""
    try:
        return identifiers.checked_email(email)
    except identifiers.IdentifierError as exc:
        raise AccountError(str(exc)) from None


def find_by_email(db: Session, email: str) -> User | None:
    return db.scalar(sa.select(User).where(User.email == normalise_email(email)))


def organisation_by_slug(db: Session, slug: str) -> Organisation | None:
    return db.scalar(sa.select(Organisation).where(Organisation.slug == slug))


def organisation_for_email(db: Session, email: str) -> Organisation | None:
    domain = identifiers.ascii_domain(email)
    row = db.scalar(sa.select(OrganisationDomain).where(OrganisationDomain.domain == domain))
    return row.organisation if row else None


def create_user(db: Session, passwords: Passwords, email: str, *, organisation: Organisation,
                name: str = "", password: str | None = None, admin: bool = False) -> User:
    """A new active user; AccountError when the email is invalid or already used anywhere."""
    address = checked_email(email)
    if find_by_email(db, address) is not None:
        raise AccountError(f"{address} already has an account")
    user = User(subject=new_token(16), organisation=organisation, email=address, name=name,
                password_hash=passwords.hash(password) if password else None,
                created_at=now(), password_changed_at=now() if password else None)
    if admin:
        user.permissions = [UserPermission(name=p) for p in ADMIN_PERMISSIONS]
    db.add(user)
    db.flush()
    return user


def check_password(db: Session, passwords: Passwords, email: str, password: str) -> User | None:
    """The active user with this email and password, else None; upgrades outdated hashes.

    Wrong passwords are counted per account across sign-ins (NIST SP 800-63B 5.2.2): after a few, the
    account is throttled with a growing wait (the password is not even checked meanwhile), and after
    PASSWORD_HARD_LIMIT it stays locked until an administrator unlocks it or the password is reset.
    Unknown accounts cost the same work as known ones."""
    user = find_by_email(db, email) if email else None
    if user is not None and user.password_retry_after is not None and user.password_retry_after > now():
        passwords.verify(None, password)
        return None
    stored = user.password_hash if user is not None else None
    if not passwords.verify(stored, password):
        if user is not None and stored is not None:
            _count_password_failure(db, user)
        return None
    if not user.is_active:
        return None
    if user.password_failures or user.password_retry_after:
        user.password_failures, user.password_retry_after = 0, None
    if passwords.needs_rehash(stored):
        user.password_hash = passwords.hash(password)
    return user


def _count_password_failure(db: Session, user: User) -> None:
    db.flush()
    db.refresh(user, with_for_update={"of": User})
    user.password_failures += 1
    extra = user.password_failures - PASSWORD_FREE_TRIES
    if user.password_failures >= PASSWORD_HARD_LIMIT:
        user.password_retry_after = now() + timedelta(days=365 * 100)
        from idp import audit
        audit.record(db, "password_locked", audit.Actor(name="system"), organisation_id=user.organisation_id,
                     target_user_id=user.id, target=user.email, outcome="failure",
                     details={"failures": user.password_failures})
    elif extra >= 0:
        user.password_retry_after = now() + timedelta(seconds=min(30 * 2 ** min(extra, 10), 900))
