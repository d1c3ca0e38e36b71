"""Passwords: "Forgot password?" (a single-use, 30-minute link by email) and changing it on Profile > Security.

A reset sets the password and nothing else: every browser session and refresh token of the account ends,
sign-ins in progress stop, remembered browsers are forgotten, and the person signs in again through the
normal flow, so a second factor they have is still asked for. The page says the same whether or not the
address has an account."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from idp import accounts, audit, outbox
from idp.attempts import counters as attempts
from idp.audit import Actor
from idp.browser import remembered, sessions
from idp.clock import now
from idp.enforcement import has_second_factor
from idp.factors import verification
from idp.models import User
from idp.notices import notify_security_event
from idp.security.password_policy import check_new_password
from idp.signin import transactions

from . import RecoveryError, tokens

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger(__name__)

RESET_TTL = timedelta(minutes=30)
RESEND_AFTER = timedelta(seconds=60)
MAX_PER_HOUR = 5
INVALID_LINK = ("This password reset link is not valid any more: it was already used, a newer one was sent, or "
                "it expired (links work for 30 minutes). Ask for a new one.")
OTHER_ACCOUNT = "This link is for another account. Nothing was changed."
MISMATCH = "The two passwords are not the same."
WRONG_CURRENT = "Your current password is not right."
SAME = "Choose a password different from your current one."
RESET_JOB = "password_reset"          # payload {"email", "ip"}: handled by idp.account_recovery.jobs
NO_PASSWORD = "Your account has no password to change (you sign in through your organisation)."


def reset_link(services: "Services", token: str) -> str:
    return f"{services.config.issuer}/reset-password/{token}"


def request_reset(db: Session, services: "Services", email: str, *, ip: str | None = None) -> None:
    """"Forgot password?": queue "a reset was asked for <address>", whatever the address. The request does the
    same database work (one insert) for an account and for no account, so its timing says nothing; the job
    (idp.account_recovery.jobs → send_reset_link) decides after the response and mails the link, or nothing."""
    if not services.mailer.enabled or not email or len(email) > 320:
        return
    outbox.enqueue(db, services.kek, RESET_JOB, {"email": accounts.normalise_email(email), "ip": ip})


def send_reset_link(db: Session, services: "Services", email: str, *, ip: str | None = None) -> bool:
    """Queue a reset link mail when `email` is an active account with a password (and not sent to too often);
    True when a link was queued."""
    user = accounts.find_by_email(db, email)
    if user is None or not user.is_active or user.password_hash is None or not services.mailer.enabled:
        return False
    if _sso_only(db, services, user.email):
        return False
    sent = tokens.recent(db, user.id, tokens.PASSWORD_RESET, timedelta(hours=1))
    if sent and now() - sent[-1].created_at < RESEND_AFTER or len(sent) >= MAX_PER_HOUR:
        log.info("password reset for user %s not sent again so soon", user.id)
        return False
    token = tokens.issue(db, user, tokens.PASSWORD_RESET, RESET_TTL, ip=ip)
    issuer = services.config.totp.issuer
    body = (f"Hello{' ' + user.name if user.name else ''},\n\nSomeone (hopefully you) asked to reset the password of "
            f"your {issuer} account. To choose a new password, open this link within 30 minutes:\n\n"
            f"    {reset_link(services, token)}\n\nThe link works once. If you have two-factor authentication, "
            "you will still need your second factor to sign in.\n\nIf you did not ask for this, ignore this "
            f"message: your password stays as it is.\n\n-- {issuer}\n")
    outbox.enqueue(db, services.kek, "email", {"to": user.email, "subject": f"Reset your {issuer} password",
                                               "body": body})
    audit.record(db, "password_reset_requested", Actor("anonymous", ip), organisation_id=user.organisation_id,
                 target_user_id=user.id, target=user.email)
    return True


def _sso_only(db: Session, services: "Services", email: str) -> bool:
    from idp.federation import providers

    provider = providers.for_email(db, services.config, email)
    return provider is not None and provider.sso_only


def reset_user(db: Session, token: str) -> User:
    """The account a usable reset link is for, or RecoveryError."""
    row = tokens.find(db, token, tokens.PASSWORD_RESET)
    if row is None:
        raise RecoveryError(INVALID_LINK)
    return row.user


def reset_password(db: Session, services: "Services", token: str, password: str, confirm: str, actor: Actor,
                   *, email: str | None = None) -> User:
    """Set a new password with a reset link (once); every session and refresh token of the account ends."""
    row = tokens.find(db, token, tokens.PASSWORD_RESET)
    if row is None:
        raise RecoveryError(INVALID_LINK)
    user = row.user
    if email and accounts.normalise_email(email) != user.email:
        raise RecoveryError(OTHER_ACCOUNT)
    _check_new(user, db, services, password, confirm)
    if not tokens.claim(db, row):
        raise RecoveryError(INVALID_LINK)
    transactions.stop_for_user(db, user.id)   # first (the sign-ins' lock order): they began with the old password
    user.password_hash = services.passwords.hash(password)
    user.password_changed_at = now()
    attempts.reset(db, "password", user.email)    # a reset lifts the wrong-password limits
    if row.email == user.email:
        user.email_verified = True      # the link reached this address
    ended = sessions.end_all(db, user.id)
    forgotten = remembered.forget_all(db, user.id)
    tokens.revoke_open(db, user.id, tokens.PASSWORD_RESET)
    audit.record(db, "password_reset", actor, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, details={"sessions_ended": ended, "remembered_browsers_forgotten": forgotten})
    db.flush()
    notify_security_event(services, user, "password_reset")
    return user


def change_password(db: Session, services: "Services", user: User, current: str, password: str, confirm: str,
                    actor: Actor, *, keep_sid: str | None, client: "attempts.Client | None" = None) -> int:
    """Profile > Security > Change password: the current one is required, checked and counted as the "Confirm
    it's you" password is (idp.factors.verification: a wrong one counts towards the lock, a locked account is
    refused before the check), so this form is no unlimited password oracle for whoever holds a session.
    Other browsers are signed out (their refresh tokens revoked) and remembered browsers forgotten; returns
    how many sessions ended. `client`: the browser (see verification.verify)."""
    if user.password_hash is None:
        raise RecoveryError(NO_PASSWORD)
    checked = verification.verify(db, services, user, now(), method="password (change password)", actor=actor,
                                  check=lambda: _current_password(services, user, current), client=client,
                                  wording=verification.PASSWORDS)
    if not checked.ok:
        audit.record(db, "password_change_refused", actor, organisation_id=user.organisation_id,
                     target_user_id=user.id, target=user.email, outcome="failure",
                     details={"reason": "wrong current password" if checked.counted else "refused before checking"})
        raise RecoveryError(checked.message or WRONG_CURRENT)
    if password == current:
        raise RecoveryError(SAME)
    _check_new(user, db, services, password, confirm)
    user.password_hash = services.passwords.hash(password)
    user.password_changed_at = now()
    ended = sessions.end_all(db, user.id, except_sid=keep_sid)
    forgotten = remembered.forget_all(db, user.id)
    tokens.revoke_open(db, user.id, tokens.PASSWORD_RESET)
    audit.record(db, "password_changed", actor, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, details={"sessions_ended": ended, "remembered_browsers_forgotten": forgotten})
    db.flush()
    notify_security_event(services, user, "password_changed")
    return ended


def _current_password(services: "Services", user: User, current: str) -> verification.Attempt:
    if not current:
        return verification.Attempt(False, WRONG_CURRENT)       # nothing typed is not a guess
    ok = services.passwords.verify(user.password_hash, current)
    return verification.Attempt(ok, None if ok else WRONG_CURRENT, counts=not ok)


def _check_new(user: User, db: Session, services: "Services", password: str, confirm: str) -> None:
    if password != confirm:
        raise RecoveryError(MISMATCH)
    problems = check_new_password(password or "", single_factor=not has_second_factor(db, user), email=user.email,
                                  config=services.config.passwords)
    if problems:
        raise RecoveryError(" ".join(problems))
