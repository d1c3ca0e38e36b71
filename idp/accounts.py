"""User accounts: creation, lookup by email, password checks (same work for unknown accounts)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp import identifiers, session_memo
from idp.clock import now
from idp.fast_lookup import EntityLookup
from idp.models import Organisation, OrganisationBranding, OrganisationDomain, User, UserPermission
from idp.security.passwords import Passwords
from idp.security.secrets import new_token

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
    """The account with this address. Its groups and permissions load only when used, so that looking up
    an existing account runs the same statements as looking up an unknown one (sign-in timing). Read once
per request (idp.session_memo), for an account that exists and for one that does not alike."""
    address = normalise_email(email)
    return session_memo.remember(db, ("user_by_email", address), (User.__tablename__,),
                                 lambda: _by_email(db, address))


# The account by its (normalised) address, with its organisation and that organisation's branding (for the
# next page): one precompiled statement (idp.fast_lookup).
_BY_EMAIL = EntityLookup(
    (User, Organisation, OrganisationBranding),
    lambda columns: columns.select_from(User).join(Organisation, Organisation.id == User.organisation_id)
    .outerjoin(OrganisationBranding, OrganisationBranding.organisation_id == Organisation.id)
    .where(User.email == sa.bindparam("address")))


def _by_email(db: Session, address: str) -> User | None:
    found = _BY_EMAIL.first_in(db, address=address)
    if found is None:
        return None
    user, organisation, branding = found
    set_committed_value(organisation, "branding", branding)     # None: it has none (known without a query)
    return user


def lock(db: Session, user: User) -> None:
    """Lock the user's row until the transaction ends (PostgreSQL; SQLite's writer holds the database): to
    serialise one user's writes across workers, and to take it before the audit chain head, as every writer
    that changes a user does (an entry about a user written first would reverse that order)."""
    db.execute(sa.select(User.id).where(User.id == user.id).with_for_update())


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


def verify_password(db: Session, passwords: Passwords, email: str, password: str) -> tuple[User | None, bool]:
    """(the account with this email if there is one, whether the password is right and the account active);
    upgrades outdated hashes. Unknown accounts cost the same work (a dummy hash is checked). Wrong passwords
    are limited per account and client by idp.attempts.counters, around this call."""
    user = find_by_email(db, email) if email else None
    stored = user.password_hash if user is not None else None
    if not passwords.verify(stored, password) or not user.is_active:
        return user, False
    if passwords.needs_rehash(stored):
        user.password_hash = passwords.hash(password)
    return user, True


def check_password(db: Session, passwords: Passwords, email: str, password: str) -> User | None:
    """The active user with this email and password, else None (no attempt counting: see verify_password)."""
    user, right = verify_password(db, passwords, email, password)
    return user if right else None
