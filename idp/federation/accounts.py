"""Which local account a verified upstream sign-in is: the one bound to (provider, subject), else an
existing account linked by email (only when the provider allows it, the provider says the address is
verified, and the account belongs to the provider's organisation), else a new account there.

A refusal is a FederationError and changes nothing: no account is ever taken over through an
unverified or foreign email address."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp import accounts
from idp.clock import now
from idp.models import OrganisationDomain, UpstreamIdentity, User, UserGroup
from idp.security.passwords import Passwords

from .errors import FederationError
from .login import UpstreamSignIn
from .providers import Provider, email_domain, for_email

EXISTING = "existing"
LINKED = "linked"
CREATED = "created"


@dataclass(frozen=True)
class Person:
    """The details the provider gave, through the provider's claim mapping."""

    email: str | None
    email_verified: bool
    name: str
    groups: tuple[str, ...] | None   # None: the provider gives no groups (keep the local ones)


def person_from(provider: Provider, claims: dict[str, Any]) -> Person:
    mapping = provider.claims
    email = claims.get(mapping.email)
    verified = claims.get(mapping.email_verified) if mapping.email_verified else None
    name = claims.get(mapping.name) if mapping.name else None
    groups = claims.get(mapping.groups) if mapping.groups else None
    return Person(
        email=accounts.normalise_email(email) if isinstance(email, str) and email.strip() else None,
        email_verified=verified is True or verified == "true",
        name=name.strip()[:200] if isinstance(name, str) else "",
        groups=tuple(sorted({g[:100] for g in groups if isinstance(g, str) and g}))
        if isinstance(groups, list) else None)


def identity_key(provider: Provider, signed_in: UpstreamSignIn) -> str:
    """The subject as stored: `sub`, or `tid/sub` for a multi-tenant provider (sub is per tenant there)."""
    return f"{signed_in.tenant}/{signed_in.subject}" if signed_in.tenant else signed_in.subject


def resolve(db: Session, passwords: Passwords, config, provider: Provider, signed_in: UpstreamSignIn,  # noqa: ANN001
            *, expected_user: User | None = None) -> tuple[User, str]:
    """The local account for this upstream sign-in and how it was found (existing, linked, created).
    All or nothing: on a refusal no account or binding is left behind (a savepoint is rolled back)."""
    try:
        with db.begin_nested():
            return _resolve(db, passwords, config, provider, signed_in, expected_user)
    except IntegrityError:
        raise FederationError("You are already signing in from another window. Please start again.",
                              "concurrent_sign_in", f"{provider.name} account was created meanwhile") from None


def _resolve(db: Session, passwords: Passwords, config, provider: Provider, signed_in: UpstreamSignIn,  # noqa: ANN001
             expected_user: User | None) -> tuple[User, str]:
    person = person_from(provider, signed_in.claims)
    subject = identity_key(provider, signed_in)
    identity = db.scalar(sa.select(UpstreamIdentity).where(UpstreamIdentity.provider == provider.name,
                                                           UpstreamIdentity.subject == subject))
    if identity is not None:
        user, how = _bound(provider, identity, signed_in), EXISTING
    else:
        user, how = _unbound(db, passwords, config, provider, person, expected_user)
    if expected_user is not None and user.id != expected_user.id:
        raise FederationError(f"You signed in at {provider.display_name} as another person than the one this "
                              "request is for. Sign in as that person, or start again.", "other_user",
                              f"{provider.name} subject is user #{user.id}, expected #{expected_user.id}")
    if identity is None:
        identity = UpstreamIdentity(provider=provider.name, subject=subject, issuer=signed_in.issuer,
                                    user_id=user.id, created_at=now())
        db.add(identity)
    identity.last_login_at = now()
    identity.email = person.email
    _refresh(user, person)
    db.flush()
    return user, how


def _bound(provider: Provider, identity: UpstreamIdentity, signed_in: UpstreamSignIn) -> User:
    if identity.issuer != signed_in.issuer:
        raise FederationError(f"Your account here is bound to another directory than the one {provider.display_name} "
                              "now uses. Ask your administrator to check the single sign-on settings.",
                              "issuer_changed", f"bound to {identity.issuer!r}, token from {signed_in.issuer!r}")
    if not identity.user.is_active:
        raise FederationError("Your account here is disabled. Contact your administrator.", "account_disabled")
    return identity.user


def _unbound(db: Session, passwords: Passwords, config, provider: Provider, person: Person,  # noqa: ANN001
             expected_user: User | None) -> tuple[User, str]:
    who = provider.display_name
    if person.email is None:
        raise FederationError(f"{who} did not send your email address, which is needed to set up your account. "
                              "Ask your administrator to release the email claim to this application.",
                              "no_email", f"claim {provider.claims.email!r} missing")
    existing = accounts.find_by_email(db, person.email)
    if existing is not None:
        return _link(provider, person, existing), LINKED
    if expected_user is not None:
        raise FederationError(f"You signed in at {who} as another person than the one this request is for.",
                              "other_user", f"{person.email} has no account; expected user #{expected_user.id}")
    return _create(db, passwords, config, provider, person), CREATED


def _link(provider: Provider, person: Person, existing: User) -> User:
    who = provider.display_name
    refused = (f"An account with the email address {person.email} already exists here, and it cannot be joined "
               f"to your {who} sign-in automatically. Sign in with your password, or ask your administrator.")
    if not provider.link_existing_by_email:
        raise FederationError(refused, "link_not_allowed", f"{provider.name} does not allow linking by email")
    if not person.email_verified:
        raise FederationError(refused, "email_not_verified",
                              f"{provider.name} did not say {provider.claims.email_verified or 'email_verified'}=true")
    if existing.organisation.slug != provider.organisation:
        raise FederationError(refused, "other_organisation",
                              f"the account belongs to {existing.organisation.slug}, "
                              f"the provider to {provider.organisation}")
    if not existing.is_active:
        raise FederationError("Your account here is disabled. Contact your administrator.", "account_disabled")
    return existing


def _create(db: Session, passwords: Passwords, config, provider: Provider, person: Person) -> User:  # noqa: ANN001
    who = provider.display_name
    organisation = accounts.organisation_by_slug(db, provider.organisation)
    if organisation is None:
        raise FederationError("Single sign-on is not set up correctly here. Contact your administrator.",
                              "unknown_organisation", f"organisation {provider.organisation!r} does not exist")
    domain = email_domain(person.email or "")
    owner = db.scalar(sa.select(OrganisationDomain).where(OrganisationDomain.domain == domain))
    routed = for_email(db, config, person.email or "")
    if (owner is not None and owner.organisation_id != organisation.id) or \
            (routed is not None and routed.organisation != provider.organisation):
        raise FederationError(f"{who} gave the email address {person.email}, which belongs to another organisation "
                              "here. No account was created. Contact your administrator.", "foreign_domain",
                              f"{domain} belongs to another organisation")
    try:
        user = accounts.create_user(db, passwords, person.email or "", organisation=organisation, name=person.name)
    except accounts.AccountError as err:
        raise FederationError(f"No account could be created for you: {err}", "account_refused", str(err)) from None
    user.email_verified = person.email_verified
    return user


def _refresh(user: User, person: Person) -> None:
    """Name and groups follow the provider (groups only when it sends the mapped claim)."""
    if person.name and person.name != user.name:
        user.name = person.name
    if person.groups is not None and set(person.groups) != user.group_names:
        wanted = set(person.groups)
        kept = [g for g in user.groups if g.name in wanted]
        user.groups = kept + [UserGroup(name=n) for n in sorted(wanted - user.group_names)]
