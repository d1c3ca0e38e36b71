"""The one way a second-factor answer is checked: row lock, lock and wait, counter, audit, notice, message.

Sign-in steps, forced enrolment, Profile > Security ("Confirm it's you", set-up confirmations, security keys)
and the first-set-up email check all call `verify`: one lock (the user's row, so parallel guesses of one user
are evaluated one at a time on every worker), one counter (lockout), one set of messages."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from idp.attempts import counters as attempts
from idp.audit import Actor
from idp.models import User

from . import lockout

if TYPE_CHECKING:
    from idp.services import Services

KIND = "second_factor"     # the device counters of idp.attempts
LOCKED = ("Too many wrong codes. Your second factor is locked until {until}; ask your administrator to "
          "unlock it sooner.")
WAIT = "Too many wrong codes in a row. Wait {seconds} seconds, then try again with the newest code."


@dataclass(frozen=True, slots=True)
class Wording:
    """What the person is told when the count refuses an answer: `locked` (with {until}), `wait` ({seconds})."""

    locked: str
    wait: str


CODES = Wording(LOCKED, WAIT)
PASSWORDS = Wording(     # the current password (Change password, "Confirm it's you"): the same count as codes
    "Too many wrong passwords and codes were entered. Checking them for your account is paused until {until}; "
    "ask your administrator to unlock it sooner.",
    "Too many wrong passwords in a row. Wait {seconds} seconds, then try again.")


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a factor's own check says about one answer: `ok`, or a message; `counts` when an answer was really
    compared and did not match (a guess), not for a malformed or expired one; `new_code_needed` when this
    challenge can no longer succeed."""

    ok: bool
    message: str | None = None
    counts: bool = False
    new_code_needed: bool = False


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict: `ok`, or the message to show; `locked_until` when the factor is locked now (a sign-in
    stops), `wait_seconds` during the short growing delay (nothing was checked)."""

    ok: bool
    message: str | None = None
    locked_until: datetime | None = None
    wait_seconds: int = 0
    new_code_needed: bool = False
    counted: bool = False          # a wrong answer that was counted against the person's tries

    @property
    def refused_before_checking(self) -> bool:
        return not self.ok and (self.locked_until is not None or self.wait_seconds > 0)


def until_text(until: datetime, now: datetime) -> str:
    """"14:05 UTC", or "14:05 UTC on 3 March" when that is another day."""
    text = until.strftime("%H:%M UTC")
    return text if until.date() == now.date() else f"{text} on {until.day} {until.strftime('%B')}"


def gate(db: Session, user: User, now: datetime, *, trusted: bool = False, lock: bool = True,
         wording: Wording = CODES) -> Verification | None:
    """Before asking for or checking an answer: the refusal when the factor is locked or must wait, else None.
    Takes the user's row lock first (`lock`: always before checking an answer), so it sees what a parallel
    request just recorded; a page that only asks reads the user as loaded. A `trusted` browser
    (attempts.device_trusted: it signed in here before) is not held by the account-wide lock or wait, which
    guesses from elsewhere could otherwise use to keep the owner out."""
    if lock:
        lockout.lock_user_row(db, user)
    if trusted:
        return None
    until = lockout.is_locked(user, now)
    if until is not None:
        return Verification(False, wording.locked.format(until=until_text(until, now)), locked_until=until)
    wait = lockout.retry_delay(user, now)
    if wait:
        return Verification(False, wording.wait.format(seconds=wait), wait_seconds=wait)
    return None


def is_trusted(db: Session, services: "Services", user: User, client: "attempts.Client | None") -> bool:
    """Whether this browser signed in to the account before and has not guessed too often since."""
    return client is not None and attempts.device_trusted(db, services, KIND, user.email, client)


def verify(db: Session, services: "Services", user: User, now: datetime, *, method: str, actor: Actor,
           check: Callable[[], Attempt], client: "attempts.Client | None" = None,
           wording: Wording = CODES) -> Verification:
    """Check one answer with `check` (the factor's own comparison, run under the row lock), count a wrong one
    (audited; the person is told by email when it locks the factor) and reset the count on a right one.
    `client` (address, user agent, device cookie): a browser that signed in here before is held only by its
    own count, not by the account-wide lock (see `gate`). `wording`: what a refusal says (CODES, or PASSWORDS
    where the answer is the current password)."""
    refused = gate(db, user, now, trusted=is_trusted(db, services, user, client), wording=wording)
    if refused is not None:
        return refused
    attempt = check()
    if client is not None and (attempt.ok or attempt.counts):
        attempts.record_device(db, services, KIND, user.email, client, right=attempt.ok)
    if attempt.ok:
        lockout.record_success(user)
        return Verification(True)
    if not attempt.counts:
        return Verification(False, attempt.message, new_code_needed=attempt.new_code_needed)
    lockout.record_failure(db, services, user, now, actor=actor, method=method)
    until = lockout.is_locked(user, now)
    if until is not None:
        return Verification(False, wording.locked.format(until=until_text(until, now)), locked_until=until,
                            new_code_needed=attempt.new_code_needed, counted=True)
    return Verification(False, attempt.message, new_code_needed=attempt.new_code_needed, counted=True)
