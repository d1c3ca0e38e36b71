"""The account's email address: verifying it (a link), and changing it (a link to the NEW address; a notice
to the OLD one once it changed). Emailed codes (the email second factor) go to the verified address only:
when the address changes, the email factor moves to the new, verified address; a pending one is dropped."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import accounts, audit, outbox
from idp.audit import Actor
from idp.factors.enrolled import mask_email
from idp.models import OtpChallenge, SecondFactor, User
from idp.notices import notify_security_event

from . import RecoveryError, tokens

if TYPE_CHECKING:
    from idp.services import Services

VERIFY_TTL = timedelta(hours=24)
INVALID_LINK = ("This email verification link is not valid any more: it was already used, a newer one was sent, "
                "or it expired (links work for 24 hours). Ask for a new one on Profile > Security.")
OTHER_ACCOUNT = ("This link is for another account than the one signed in here. Sign out, then open the link "
                 "again. Nothing was changed.")
SAME_ADDRESS = "That is already the email address of your account."
TAKEN = "That email address cannot be used for your account. Nothing was changed."


def verify_link(services: "Services", token: str) -> str:
    return f"{services.config.issuer}/verify-email/{token}"


def _send(db: Session, services: "Services", user: User, address: str, ip: str | None, changing: bool) -> None:
    token = tokens.issue(db, user, tokens.VERIFY_EMAIL, VERIFY_TTL, email=address, ip=ip)
    issuer = services.config.totp.issuer
    what = ("to make it the email address of your account" if changing
            else "to confirm it is the email address of your account")
    body = (f"Hello{' ' + user.name if user.name else ''},\n\nOpen this link within 24 hours {what} at {issuer}:\n\n"
            f"    {verify_link(services, token)}\n\nIf you did not ask for this, ignore this message.\n\n-- {issuer}\n")
    outbox.enqueue(db, services.kek, "email", {"to": address, "subject": f"Confirm your email address for {issuer}",
                                               "body": body})


def send_verification(db: Session, services: "Services", user: User, actor: Actor) -> None:
    """A link to the account's current address, to confirm it (an address added without being verified)."""
    _send(db, services, user, user.email, actor.ip, changing=False)
    audit.record(db, "email_verification_sent", actor, organisation_id=user.organisation_id,
                 target_user_id=user.id, target=user.email)


def start_change(db: Session, services: "Services", user: User, new_address: str, actor: Actor) -> str:
    """Send a link to `new_address`; the address changes only when it is opened. Returns the address. An
    address of another account gets nothing (the page looks the same: no one learns who has an account)."""
    try:
        address = accounts.checked_email(new_address or "")
    except accounts.AccountError as exc:
        raise RecoveryError(str(exc)) from None
    if address == user.email:
        raise RecoveryError(SAME_ADDRESS)
    if accounts.find_by_email(db, address) is not None:
        audit.record(db, "email_change_requested", actor, organisation_id=user.organisation_id,
                     target_user_id=user.id, target=user.email, outcome="failure",
                     details={"reason": "the address belongs to another account"})
        return address
    _send(db, services, user, address, actor.ip, changing=True)
    audit.record(db, "email_change_requested", actor, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, details={"new_address": address})
    return address


def pending(db: Session, token: str) -> tuple[User, str]:
    """(account, address) of a usable verification link, or RecoveryError."""
    row = tokens.find(db, token, tokens.VERIFY_EMAIL)
    if row is None:
        raise RecoveryError(INVALID_LINK)
    return row.user, row.email or row.user.email


def verify(db: Session, services: "Services", token: str, signed_in: User | None, actor: Actor) -> User:
    """Use a verification link (once): the address is verified, or becomes the account's address."""
    row = tokens.find(db, token, tokens.VERIFY_EMAIL)
    if row is None:
        raise RecoveryError(INVALID_LINK)
    user, address = row.user, row.email or row.user.email
    if signed_in is not None and signed_in.id != user.id:
        audit.record(db, "email_verification_refused", actor, organisation_id=signed_in.organisation_id,
                     target_user_id=signed_in.id, target=signed_in.email, outcome="failure",
                     details={"reason": "the link is for another account"})
        raise RecoveryError(OTHER_ACCOUNT)
    if address != user.email and accounts.find_by_email(db, address) is not None:
        raise RecoveryError(TAKEN)
    if not tokens.claim(db, row):
        raise RecoveryError(INVALID_LINK)
    if address == user.email:
        user.email_verified = True
        audit.record(db, "email_verified", actor, organisation_id=user.organisation_id, target_user_id=user.id,
                     target=user.email)
        return user
    old = user.email
    user.email, user.email_verified = address, True
    _move_email_factor(db, user, old, address)
    tokens.revoke_open(db, user.id)           # links sent to the old address (password reset) stop working
    audit.record(db, "email_changed", actor, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=address, details={"old_address": old, "new_address": address})
    db.flush()
    notify_security_event(services, user, f"The email address of your account was changed to {mask_email(address)}. "
                                          "Messages now go to the new address.", to=old)
    return user


def _move_email_factor(db: Session, user: User, old: str, new: str) -> None:
    """Emailed codes follow the verified address: the confirmed email factor moves to it (its open codes are
    dropped); a pending one is removed."""
    factors = list(db.scalars(sa.select(SecondFactor).where(SecondFactor.user_id == user.id,
                                                            SecondFactor.kind == "email")))
    for factor in factors:
        db.execute(sa.delete(OtpChallenge).where(OtpChallenge.factor_id == factor.id))
        if factor.confirmed_at is None:
            db.delete(factor)
        else:
            factor.target = new
    db.flush()
