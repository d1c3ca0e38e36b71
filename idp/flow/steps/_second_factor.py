"""Shared by the second-factor steps (no step here): lockout checks, counted failures, help text, audit actor."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from idp.audit import Actor
from idp.factors import lockout
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome

LOCKED = ("Too many wrong codes. Your second factor is locked until {until}; ask your administrator to "
          "unlock it sooner.")
WAIT = "Too many wrong codes in a row. Wait {seconds} seconds, then enter the newest code."


def actor(ctx: FlowContext) -> Actor:
    """The person signing in, for audit entries written by a step."""
    name = f"user:{ctx.user.email}" if ctx.user is not None else "anonymous"
    return Actor(name=name, ip=ctx.ip, user_agent=ctx.user_agent)


def support_contact(ctx: FlowContext) -> str:
    """Who resets 2FA: the organisation's support contact, else the server's, else ""."""
    org_contact = ctx.user.organisation.support_contact if ctx.user is not None else ""
    return org_contact or ctx.config.support_contact or ""


def help_view(ctx: FlowContext) -> dict[str, Any]:
    """What the "Can't use any of these?" text needs."""
    return {"support_contact": support_contact(ctx)}


def until_text(until: datetime, now: datetime) -> str:
    """"14:05 UTC", or "14:05 UTC on 3 March" when that is another day."""
    text = until.strftime("%H:%M UTC")
    return text if until.date() == now.date() else f"{text} on {until.day} {until.strftime('%B')}"


def locked(ctx: FlowContext) -> Outcome | None:
    """ABORT when the user's second factor is locked, RETRY (not a failure) during the short delay, else None.
    Takes the user's row lock first: code checks of one user are serialised across workers."""
    lockout.lock_user_row(ctx.db, ctx.user)
    until = lockout.is_locked(ctx.user, ctx.now)
    if until is not None:
        return Outcome.abort(LOCKED.format(until=until_text(until, ctx.now)))
    wait = lockout.retry_delay(ctx.user, ctx.now)
    if wait:
        return Outcome.retry(WAIT.format(seconds=wait), counts_as_failure=False)
    return None


def failed(ctx: FlowContext, method: str, message: str | None, **view: Any) -> Outcome:
    """A wrong code: counted (across sign-ins, audited); ABORT if that locked the factor, else RETRY."""
    lockout.record_failure(ctx.db, ctx.services, ctx.user, ctx.now, actor=actor(ctx), method=method)
    until = lockout.is_locked(ctx.user, ctx.now)
    if until is not None:
        return Outcome.abort(LOCKED.format(until=until_text(until, ctx.now)))
    return Outcome.retry(message or "That code is not right.", **view)


def succeeded(ctx: FlowContext) -> None:
    """A right code: the failure count starts over."""
    lockout.record_success(ctx.user)
