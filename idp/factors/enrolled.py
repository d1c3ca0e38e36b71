"""A user's second factors: listing, removing, enrolling email and SMS factors, masked targets."""
from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import factor_rows
from idp.accounts import AccountError, checked_email
from idp.clock import now
from idp.models import OtpChallenge, SecondFactor, User

from . import registry
from .codes import CodeCheck, SendResult, check_code, send_code

if TYPE_CHECKING:
    from idp.services import Services

DOT = "\u2022"
BAD_PHONE = ("{phone!r} is not a phone number we can send texts to. Enter it in international format, "
             "starting with + and the country code (for example +44 7911 123456).")
LANDLINE = "{phone!r} looks like a landline or service number, which cannot receive texts. Enter a mobile number."
NOT_MOBILE = ("FIXED_LINE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "UAN")   # phonenumbers.PhoneNumberType
ENROL_GONE = "This set-up is no longer current (perhaps it was started again elsewhere). Start the set-up again."


class FactorError(ValueError):
    """A refused enrolment input (bad phone number or address), with a message for the person."""


def active_factors(db: Session, user: User) -> list[SecondFactor]:
    """The user's confirmed second factors: authenticator app first, then email, then SMS (read once per
    request until the request changes them: idp.session_memo)."""
    order = {cls.factor: cls.order for cls in registry.factor_types()}
    return sorted(factor_rows.confirmed(db, user), key=lambda f: (order.get(f.kind, 99), f.created_at, f.id))


def active_factor(db: Session, user: User, kind: str) -> SecondFactor | None:
    """The user's confirmed factor of this kind (there is at most one of each kind)."""
    return next((f for f in active_factors(db, user) if f.kind == kind), None)


def remove_factor(db: Session, user: User, factor_id: int) -> SecondFactor | None:
    """Delete one of the user's factors (pending or confirmed) with its open codes; None if not theirs.
    Recovery codes are kept (the caller decides whether to regenerate or remove them)."""
    factor = db.scalar(sa.select(SecondFactor).where(SecondFactor.id == factor_id, SecondFactor.user_id == user.id))
    if factor is None:
        return None
    db.execute(sa.delete(OtpChallenge).where(OtpChallenge.factor_id == factor.id))
    db.delete(factor)
    db.flush()
    return factor


def activate(db: Session, user: User, factor: SecondFactor) -> None:
    """Mark a verified pending factor confirmed; one factor per kind, so an older one of its kind goes, and
    so do abandoned set-ups of other code methods (a pending secret must not outlive the set-up)."""
    gone = sa.and_(SecondFactor.user_id == user.id, SecondFactor.id != factor.id, sa.or_(
        SecondFactor.kind == factor.kind,
        sa.and_(SecondFactor.confirmed_at.is_(None), SecondFactor.kind.in_(registry.names(enrol_in_sign_in=True)))))
    db.execute(sa.delete(OtpChallenge).where(OtpChallenge.user_id == user.id, OtpChallenge.factor_id.in_(
        sa.select(SecondFactor.id).where(gone))))
    db.execute(sa.delete(SecondFactor).where(gone))
    factor.confirmed_at = now()
    db.flush()


def new_pending(db: Session, user: User, kind: str, target: str) -> SecondFactor:
    """A new pending factor of `kind`; an earlier pending one of that kind is replaced."""
    old = list(db.scalars(sa.select(SecondFactor.id).where(
        SecondFactor.user_id == user.id, SecondFactor.kind == kind, SecondFactor.confirmed_at.is_(None))))
    if old:
        db.execute(sa.delete(OtpChallenge).where(OtpChallenge.factor_id.in_(old)))
        db.execute(sa.delete(SecondFactor).where(SecondFactor.id.in_(old)))
    factor = SecondFactor(user_id=user.id, kind=kind, name=registry.label(kind), target=target, data={},
                          created_at=now())
    db.add(factor)
    db.flush()
    return factor


def start_email_enrolment(db: Session, services: "Services", user: User, address: str | None = None, *,
                          bound_to: str) -> tuple[SecondFactor, SendResult]:
    """A pending email factor for `address` (default: the account's address) and a code sent there."""
    try:
        target = checked_email(address) if address else user.email
    except AccountError as exc:
        raise FactorError(str(exc)) from None
    factor = new_pending(db, user, "email", target)
    return factor, send_code(db, services, user, factor, "enrol", bound_to=bound_to)


def normalise_phone(phone: str, region: str | None = None) -> str:
    """The number in E.164 ("+447911123456"), or FactorError when it is not a valid number."""
    import phonenumbers  # its metadata is large: loaded by the few requests that handle a phone number

    try:
        number = phonenumbers.parse((phone or "").strip(), region)
    except phonenumbers.NumberParseException:
        raise FactorError(BAD_PHONE.format(phone=phone)) from None
    if not phonenumbers.is_valid_number(number):
        raise FactorError(BAD_PHONE.format(phone=phone))
    kind = phonenumbers.number_type(number)
    if any(kind == getattr(phonenumbers.PhoneNumberType, name) for name in NOT_MOBILE):
        raise FactorError(LANDLINE.format(phone=phone))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def start_sms_enrolment(db: Session, services: "Services", user: User, phone: str, region: str | None = None, *,
                        bound_to: str) -> tuple[SecondFactor, SendResult]:
    """A pending SMS factor for `phone` (validated, stored as E.164) and a code texted to it."""
    factor = new_pending(db, user, "sms", normalise_phone(phone, region))
    return factor, send_code(db, services, user, factor, "enrol", bound_to=bound_to)


def confirm_side_channel_enrolment(db: Session, services: "Services", user: User, factor_id: int,
                                   challenge_id: int | None, code: str, *, bound_to: str) -> CodeCheck:
    """Activate the pending email/SMS factor when `code` is the one sent for it."""
    factor = db.scalar(sa.select(SecondFactor).where(
        SecondFactor.id == factor_id, SecondFactor.user_id == user.id, SecondFactor.confirmed_at.is_(None),
        SecondFactor.kind.in_(registry.names(sends_code=True))))
    challenge = db.get(OtpChallenge, challenge_id) if challenge_id is not None else None
    if factor is None or challenge is None or challenge.factor_id != factor.id:
        return CodeCheck(False, ENROL_GONE, new_code_needed=True)
    check = check_code(db, services, user, challenge_id, code, bound_to=bound_to)
    if check.ok:
        activate(db, user, factor)
    return check


def mask_email(address: str) -> str:
    """"jane@example.com" → "j•••@example.com"."""
    local, _, domain = (address or "").partition("@")
    return f"{local[:1]}{DOT * 3}@{domain}" if domain else DOT * 3


def mask_phone(e164: str) -> str:
    """"+447911123456" → "+44 ••••••••56" (country code and the last two digits)."""
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return DOT * 4 + (e164 or "")[-2:]
    national = str(number.national_number)
    return f"+{number.country_code} {DOT * max(len(national) - 2, 2)}{national[-2:]}"
