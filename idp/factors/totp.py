"""Authenticator apps (TOTP, RFC 6238) with pyotp: enrolment, verification, replay guard, clock drift."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pyotp
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.clock import now as clock_now
from idp.fast_lookup import Statement
from idp.models import SecondFactor, User

from . import enrolled

if TYPE_CHECKING:
    from idp.services import Services

KIND = "totp"
NOT_DIGITS = "Enter the {digits}-digit code from your authenticator app, digits 0-9 only."
WRONG = "That code is not right. Wait for the next code in your authenticator app and enter it."
REPLAYED = "That code was already used. Wait for the next code in your authenticator app and enter it."
DRIFT = ("Your device clock looks {amount} {direction}. Turn on automatic date and time "
         "(Settings > Date & Time > Automatic) and try again.")
ENROL_WRONG = ("That code is not right. Delete the entry from your authenticator app and scan the QR code "
               "again, then enter the code it shows.")
ENROL_GONE = "This set-up is no longer current (perhaps it was started again elsewhere). Start the set-up again."


@dataclass(frozen=True, slots=True)
class TotpCheck:
    """The result of checking a code; `drift_steps` is set when the code fits a clock off by that many steps."""

    ok: bool
    message: str | None = None
    drift_steps: int | None = None


def new_secret() -> str:
    """A new 160-bit secret, base32 (32 characters), as authenticator apps expect."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str, issuer: str, digits: int = 6, period: int = 30,
                     algorithm: str = "SHA1") -> str:
    """The otpauth://totp/ URI of the QR code; issuer and the email as label (Key Uri Format)."""
    return _totp(secret, digits, period, algorithm).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an inline <svg> QR code (no XML declaration), for a page that allows no inline script."""
    import segno  # only the set-up page draws a QR code

    return segno.make(uri, error="m").svg_inline(scale=4, border=2, title="QR code to scan with your authenticator app")


def grouped(secret: str) -> str:
    """The secret in groups of four for typing by hand: "JBSW Y3DP EHPK 3PXP"."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _totp(secret: str, digits: int, period: int, algorithm: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=digits, interval=period, digest=getattr(hashlib, algorithm.lower()))


def factor_secret(services: Services, factor: SecondFactor) -> str:
    """The factor's secret, decrypted with the key-encryption key (show it only while enrolling)."""
    return services.kek.decrypt(factor.secret_encrypted).decode("ascii")


def start_enrolment(db: Session, services: Services, user: User) -> SecondFactor:
    """A new PENDING authenticator (confirmed_at None); an earlier pending one of this user is replaced."""
    db.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == user.id, SecondFactor.kind == KIND,
                                             SecondFactor.confirmed_at.is_(None)))
    cfg = services.config.totp
    factor = SecondFactor(user_id=user.id, kind=KIND, name="Authenticator App",
                          secret_encrypted=services.kek.encrypt(new_secret().encode("ascii")),
                          digits=cfg.digits, period=cfg.period, algorithm=cfg.algorithm, offset_steps=0,
                          data={}, created_at=clock_now())
    db.add(factor)
    db.flush()
    return factor


def enrolment_uri(services: Services, user: User, factor: SecondFactor) -> str:
    """The provisioning URI of a (pending) factor of this user."""
    return provisioning_uri(factor_secret(services, factor), user.email, services.config.totp.issuer,
                            factor.digits, factor.period, factor.algorithm)


def pending_factor(db: Session, user: User, factor_id: int | None) -> SecondFactor | None:
    """This user's pending authenticator with this id, or None (replaced, confirmed or someone else's)."""
    if factor_id is None:
        return None
    return db.scalar(sa.select(SecondFactor).where(
        SecondFactor.id == factor_id, SecondFactor.user_id == user.id, SecondFactor.kind == KIND,
        SecondFactor.confirmed_at.is_(None)))


def confirm_enrolment(db: Session, services: Services, user: User, factor_id: int, code: str) -> TotpCheck:
    """Activate the pending factor when `code` is valid for it; an older confirmed authenticator is replaced."""
    factor = pending_factor(db, user, factor_id)
    if factor is None:
        return TotpCheck(False, ENROL_GONE)
    check = verify(db, services, factor, code, clock_now())
    if not check.ok:
        return check if check.drift_steps is not None else TotpCheck(False, ENROL_WRONG)
    enrolled.activate(db, user, factor)
    return check


activate = enrolled.activate  # mark a verified pending factor confirmed (kept here for callers of totp.activate)


def clean_code(code: str | None, digits: int) -> str | None:
    """The code without spaces if it is exactly `digits` ASCII digits, else None (nothing is compared)."""
    cleaned = (code or "").strip().replace(" ", "")
    if len(cleaned) != digits or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def verify(db: Session, services: Services, factor: SecondFactor, code: str, now: datetime) -> TotpCheck:
    """Accept `code` once (replay guard) for the current step ± `window`: the accepted steps never move with
    what was accepted before, so the current code always works and no later code is let in. The offset of
    the step that matched (inside that window only) is recorded, bounded, for diagnosis; a code that fits a
    clock further off is refused with a hint that the device clock is wrong (RFC 6238 §6)."""
    cleaned = clean_code(code, factor.digits)
    if cleaned is None:
        return TotpCheck(False, NOT_DIGITS.format(digits=factor.digits))
    otp = _totp(factor_secret(services, factor), factor.digits, factor.period, factor.algorithm)
    current = int(now.timestamp()) // factor.period
    window = range(current - services.config.totp.window, current + services.config.totp.window + 1)
    matched = _match(otp, cleaned, window)
    if matched is None:
        return _drift(services, otp, cleaned, current, window, factor.period)
    limit = services.config.totp.max_learned_offset_steps
    offset = max(-limit, min(limit, matched - current))
    if not _claim_step(db, factor, matched, offset, now):
        return TotpCheck(False, REPLAYED)
    return TotpCheck(True)


def _match(otp: pyotp.TOTP, code: str, steps: Iterable[int]) -> int | None:
    """The step whose code equals `code` (constant-time comparisons, every candidate checked)."""
    matched = None
    for step in steps:
        if step >= 0 and hmac.compare_digest(otp.generate_otp(step), code) and matched is None:
            matched = step
    return matched


# The step claimed, only if no later-or-equal step was (precompiled: idp.fast_lookup). It changes no answer
# idp.session_memo keeps (the set of confirmed factors stays the same; `_claim_step` sets what it wrote on
# the remembered row).
_CLAIM_STEP = Statement(
    sa.update(SecondFactor)
    .where(SecondFactor.id == sa.bindparam("factor_id"),
           sa.or_(SecondFactor.last_step.is_(None), SecondFactor.last_step < sa.bindparam("step")))
    .values(last_step=sa.bindparam("step"), offset_steps=sa.bindparam("offset"), last_used_at=sa.bindparam("at")))


def _claim_step(db: Session, factor: SecondFactor, step: int, offset: int, now: datetime) -> bool:
    """Record `step` as used, only if no later-or-equal step was: one row updated means this worker won."""
    if _CLAIM_STEP.rowcount_in(db, factor_id=factor.id, step=step, offset=offset, at=now) != 1:
        db.expire(factor)       # another worker claimed it: read again when asked
        return False
    for name, value in (("last_step", step), ("offset_steps", offset), ("last_used_at", now)):
        set_committed_value(factor, name, value)   # what this statement wrote; the factor stays confirmed
    return True


def _drift(services: Services, otp: pyotp.TOTP, code: str, current: int, window: range, period: int) -> TotpCheck:
    """A refused code; when it fits a step near now but outside the window, say the device clock is off."""
    reach = services.config.totp.drift_detection_steps
    nearby = [s for s in range(current - reach, current + reach + 1) if s not in window]
    step = _match(otp, code, nearby)
    if step is None:
        return TotpCheck(False, WRONG)
    drift = step - current
    return TotpCheck(False, DRIFT.format(amount=_amount(abs(drift) * period),
                                         direction="behind" if drift < 0 else "ahead"), drift)


def _amount(seconds: int) -> str:
    if seconds < 60:
        return f"about {seconds} seconds"
    minutes = round(seconds / 60)
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"
