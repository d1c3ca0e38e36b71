"""Codes sent by email or SMS (django-otp's SideChannelDevice): hashed, expiring, throttled, single use."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import accounts
from idp.clock import now as clock_now
from idp.db import redo_if_rolled_back
from idp.delivery import DeliveryError
from idp.models import OtpChallenge, SecondFactor, User

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger(__name__)

DIGITS = 6
NOT_SENT = "We couldn't send the code. Try again in a few minutes, or choose another way to sign in."
TOO_SOON = "A code was sent a moment ago. You can ask for a new one in {seconds} seconds."
TOO_MANY = "Too many codes were sent in the last hour. Try again after {at} UTC, or choose another way."
GONE = "This code is no longer valid. Send a new code."
EXPIRED = "This code has expired or a newer one was sent. Send a new code, or use the newest one you received."
NOT_DIGITS = "Enter the 6-digit code, digits 0-9 only."
WRONG = "That code is not right. Check you used the newest code you received. {left} left."
LAST_WRONG = "That code is not right, and it was the last try for this code. Send a new code."
WORDING = {"login": "sign-in code", "enrol": "set-up code", "confirm": "verification code"}


@dataclass(frozen=True, slots=True)
class SendResult:
    """`ok` with the challenge's id, or a message for the person (throttled, or delivery failed)."""

    ok: bool
    challenge_id: int | None = None
    message: str | None = None
    retry_after: int | None = None   # seconds until another send is allowed (throttled only)


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """`ok`, or why not; `new_code_needed` when this challenge can no longer succeed,
    `wrong_code` when a code was actually compared and did not match (counts as a failure)."""

    ok: bool
    message: str | None = None
    new_code_needed: bool = False
    wrong_code: bool = False


def send_code(db: Session, services: "Services", user: User, factor: SecondFactor | None, purpose: str, *,
              bound_to: str) -> SendResult:
    """Send a new code through `factor` (email or sms; None = the account's own email address) for the one
    challenge `bound_to` names (see idp.factors.binding): the code is accepted there and nowhere else.

    Throttled: `resend_interval_seconds` apart for the same challenge, at most `max_sends_per_hour` per user and
    channel. Earlier open codes of the SAME challenge stop working; codes of other challenges are untouched.
    On a delivery failure nothing is kept. Only a keyed hash of the code is stored; the code is never logged."""
    channel, target = (factor.kind, factor.target) if factor is not None else ("email", user.email)
    now = clock_now()
    accounts.lock(db, user)     # serialise one user's sends across workers
    refused = _throttled(db, services, user, channel, bound_to, now)
    if refused is not None:
        return refused
    code = f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"
    factor_id = factor.id if factor is not None else None
    challenge = OtpChallenge(user_id=user.id, factor_id=factor_id, channel=channel, purpose=purpose,
                             bound_to=bound_to, code_digest=services.pepper.hash(code), created_at=now, attempts=0,
                             expires_at=now + timedelta(minutes=services.config.otp.code_ttl_minutes))
    db.add(challenge)
    db.flush()
    try:
        _deliver(services, channel, target or "", code, purpose)
    except DeliveryError as exc:
        log.warning("%s code for user %s not delivered: %s", channel, user.id, exc)
        db.delete(challenge)
        db.flush()
        return SendResult(False, message=NOT_SENT)
    _supersede(db, user, bound_to, now, keep=challenge.id)
    log.info("%s %s code sent for user %s (challenge %s)", channel, purpose, user.id, challenge.id)
    return SendResult(True, challenge_id=challenge.id)


def open_challenge(db: Session, services: "Services", user: User, *, bound_to: str) -> int | None:
    """The newest code of this challenge that can still be used, if any: a page shown again within the resend
    interval continues with the code already sent."""
    return db.scalar(sa.select(OtpChallenge.id).where(
        OtpChallenge.user_id == user.id, OtpChallenge.bound_to == bound_to, OtpChallenge.used_at.is_(None),
        OtpChallenge.expires_at > clock_now(), OtpChallenge.attempts < services.config.otp.max_attempts)
        .order_by(OtpChallenge.created_at.desc(), OtpChallenge.id.desc()).limit(1))


def _throttled(db: Session, services: "Services", user: User, channel: str, bound_to: str,
               now: datetime) -> SendResult | None:
    cfg = services.config.otp
    sent = list(db.execute(sa.select(OtpChallenge.created_at, OtpChallenge.bound_to).where(
        OtpChallenge.user_id == user.id, OtpChallenge.channel == channel,
        OtpChallenge.created_at > now - timedelta(hours=1)).order_by(OtpChallenge.created_at)))
    same = [at for at, bound in sent if bound == bound_to]
    if same and (wait := cfg.resend_interval_seconds - int((now - same[-1]).total_seconds())) > 0:
        return SendResult(False, message=TOO_SOON.format(seconds=wait), retry_after=wait)
    if len(sent) >= cfg.max_sends_per_hour:
        free_at = sent[-cfg.max_sends_per_hour][0] + timedelta(hours=1)
        wait = max(1, int((free_at - now).total_seconds()))
        return SendResult(False, message=TOO_MANY.format(at=free_at.strftime("%H:%M")), retry_after=wait)
    return None


def _supersede(db: Session, user: User, bound_to: str, now: datetime, keep: int) -> None:
    """Older open codes of this challenge expire now (never another challenge's); rows older than a day go."""
    db.execute(sa.update(OtpChallenge).where(
        OtpChallenge.user_id == user.id, OtpChallenge.bound_to == bound_to, OtpChallenge.id != keep,
        OtpChallenge.used_at.is_(None), OtpChallenge.expires_at > now).values(expires_at=now)
        .execution_options(synchronize_session=False))
    db.execute(sa.delete(OtpChallenge).where(OtpChallenge.user_id == user.id,
                                             OtpChallenge.created_at < now - timedelta(days=1)))


def _deliver(services: "Services", channel: str, target: str, code: str, purpose: str) -> None:
    issuer = services.config.totp.issuer
    what = WORDING.get(purpose, "code")
    minutes = services.config.otp.code_ttl_minutes
    if channel == "sms":
        host = urlsplit(services.config.issuer).hostname or "localhost"
        text = f"{code} is your {issuer} {what}. It expires in {minutes} minutes.\n\n@{host} #{code}"  # WebOTP line
        services.sms.send(target, text)
        return
    body = (f"Your {issuer} {what} is:\n\n    {code}\n\nIt expires in {minutes} minutes. Enter it on the page "
            f"where you asked for it.\n\nIf you did not ask for this code, someone may know your password: "
            f"change it and tell your administrator. Never share this code with anyone.\n")
    services.mailer.send(target, f"Your {issuer} {what}", body)


def check_code(db: Session, services: "Services", user: User, challenge_id: int | None, code: str, *,
               bound_to: str) -> CodeCheck:
    """Accept `code` once for this user's challenge `challenge_id`, only where it was sent for (`bound_to`):
    unexpired, not used, fewer than `max_attempts` wrong tries. A code of another sign-in, another browser or
    another purpose is refused as no longer valid, and a wrong guess here never uses up its tries."""
    now = clock_now()
    challenge = None if challenge_id is None else db.scalar(sa.select(OtpChallenge).where(
        OtpChallenge.id == challenge_id, OtpChallenge.user_id == user.id, OtpChallenge.bound_to == bound_to)
        .with_for_update())
    max_attempts = services.config.otp.max_attempts
    if challenge is None or challenge.used_at is not None or challenge.attempts >= max_attempts:
        return CodeCheck(False, GONE, new_code_needed=True)
    if challenge.expires_at <= now:
        return CodeCheck(False, EXPIRED, new_code_needed=True)
    cleaned = (code or "").strip().replace(" ", "")
    valid = len(cleaned) == DIGITS and cleaned.isascii() and cleaned.isdigit()
    if valid and services.pepper.matches(cleaned, challenge.code_digest):
        channel, factor_id = challenge.channel, challenge.factor_id
        used = _use(db, challenge, max_attempts, now)
        if used.ok:
            _prove_address(db, user, channel, factor_id)
        return used
    return _wrong(db, challenge, max_attempts, NOT_DIGITS if not valid else None)


def _prove_address(db: Session, user: User, channel: str, factor_id: int | None) -> None:
    """A code emailed to the account's own address and typed back proves the address (Profile > Security
    then says "Confirmed"); a code to another address (an email factor for elsewhere) or by SMS proves nothing."""
    if channel != "email" or user.email_verified:
        return
    if factor_id is not None:
        factor = db.get(SecondFactor, factor_id)
        if factor is None or (factor.target or "").lower() != user.email.lower():
            return
    user.email_verified = True


def _use(db: Session, challenge: OtpChallenge, max_attempts: int, now: datetime) -> CodeCheck:
    result = db.execute(sa.update(OtpChallenge).where(
        OtpChallenge.id == challenge.id, OtpChallenge.used_at.is_(None), OtpChallenge.expires_at > now,
        OtpChallenge.attempts < max_attempts).values(used_at=now).execution_options(synchronize_session=False))
    db.expire(challenge)
    if result.rowcount != 1:
        return CodeCheck(False, GONE, new_code_needed=True)
    return CodeCheck(True)


def _wrong(db: Session, challenge: OtpChallenge, max_attempts: int, message: str | None) -> CodeCheck:
    challenge_id = challenge.id

    def count(session: Session) -> None:
        session.execute(sa.update(OtpChallenge).where(OtpChallenge.id == challenge_id)
                        .values(attempts=OtpChallenge.attempts + 1).execution_options(synchronize_session=False))

    redo_if_rolled_back(db, count)      # the try is used up even if the request then fails
    count(db)
    db.expire(challenge)
    left = max_attempts - challenge.attempts
    if left <= 0:
        return CodeCheck(False, LAST_WRONG, new_code_needed=True, wrong_code=True)
    tries = f"{left} {'try' if left == 1 else 'tries'}"
    return CodeCheck(False, (message + f" {tries} left.") if message else WRONG.format(left=tries), wrong_code=True)
