"""The code-checking service as sign-in step outcomes (ABORT when locked, RETRY otherwise), help text, actor."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idp.attempts import counters as attempts
from idp.audit import Actor
from idp.factors import verification
from idp.factors.verification import Attempt, Verification
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome


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


def client(ctx: FlowContext) -> attempts.Client:
    """The browser signing in, as the attempt counters see it."""
    return attempts.Client(address=ctx.ip, user_agent=ctx.user_agent, device_cookie=ctx.device_cookie)


def locked(ctx: FlowContext) -> Outcome | None:
    """ABORT when the user's second factor is locked, RETRY (not a failure) during the short delay, else None.
    Before a page is shown, from the user as this request read it: `verified` checks again under the row lock."""
    trusted = verification.is_trusted(ctx.db, ctx.services, ctx.user, client(ctx))
    refused = verification.gate(ctx.db, ctx.user, ctx.now, trusted=trusted, lock=False)
    return None if refused is None else as_outcome(refused)


def verified(ctx: FlowContext, method: str, check: Callable[[], Attempt], **view: Any) -> Outcome | None:
    """None when the answer `check` compares is right; otherwise ABORT (the factor is now locked) or RETRY."""
    result = verification.verify(ctx.db, ctx.services, ctx.user, ctx.now, method=method, actor=actor(ctx),
                                 check=check, client=client(ctx))
    return None if result.ok else as_outcome(result, **view)


def as_outcome(result: Verification, **view: Any) -> Outcome:
    if result.locked_until is not None:
        return Outcome.abort(result.message or verification.LOCKED, counts_as_failure=result.counted)
    return Outcome.retry(result.message or "That code is not right.", counts_as_failure=result.counted, **view)
