""""Don't ask again on this browser for N days": a browser that skips the SECOND factor (never the password).

The browser keeps a random token in a long-lived cookie (HttpOnly, SameSite=Lax; Secure and `__Host-` under
https); the database keeps its SHA-256 digest, bound to one user. The flow learns about it only through the
condition `browser_remembered` (policies/browser.toml), which the web layer feeds with `is_remembered`:

* only for the user the token was issued to, before its expiry, while the organisation allows remembering
  (`remember_browser_days` > 0; a shorter setting shortens existing ones too);
* never when the application demands a fresh sign-in: acr_values asking for the MFA level, max_age,
  prompt=login (`freshness_demanded`);
* forgotten by anything that changes how the person proves it is them: a password change or reset, a new
  second factor, an administrator's 2FA reset (rows created before that moment no longer count, wherever
  the change was made), and by "Forget" / "Forget all" on Profile > Security.

A remembered sign-in proves only what it did: amr ["pwd"], the password-level acr."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.clock import now
from idp.enforcement import has_second_factor
from idp.models import RememberedBrowser, SecondFactor, User
from idp.security.secrets import digest, new_token

COOKIE = "idp_remember_browser"
HTTPS_COOKIE = "__Host-idp_remember_browser"      # __Host-: Secure, Path=/, no Domain


@dataclass(frozen=True)
class CookieSpec:
    """What the web layer sets: name, value, lifetime and attributes."""

    name: str
    value: str
    max_age: int
    secure: bool
    httponly: bool = True
    samesite: str = "Lax"
    path: str = "/"


def cookie_name(https: bool) -> str:
    return HTTPS_COOKIE if https else COOKIE


def days_allowed(user: User) -> int:
    """How many days the person's organisation lets a browser be remembered (0: not at all)."""
    return max(0, int(user.organisation.remember_browser_days or 0))


def freshness_demanded(params: Mapping[str, str], acr_mfa: str) -> bool:
    """The application asks for a fresh or MFA-level sign-in: a remembered browser must not skip anything."""
    prompts = (params.get("prompt") or "").split()
    return acr_mfa in (params.get("acr_values") or "").split() or "max_age" in params or "login" in prompts


def _forgotten_since(db: Session, user: User) -> datetime | None:
    """The last moment something forgot every remembered browser of the user (rows older do not count)."""
    newest_factor = db.scalar(sa.select(sa.func.max(SecondFactor.confirmed_at)).where(
        SecondFactor.user_id == user.id, SecondFactor.confirmed_at.is_not(None)))
    moments = [m for m in (user.password_changed_at, user.second_factor_reset_at, newest_factor) if m is not None]
    return max(moments) if moments else None


def find(db: Session, user: User, token: str | None) -> RememberedBrowser | None:
    """The live remembered browser behind this cookie value for `user`, else None."""
    if not token or len(token) > 200 or user is None:
        return None
    days = days_allowed(user)
    if days == 0:
        return None
    row = db.scalar(sa.select(RememberedBrowser).where(RememberedBrowser.token_digest == digest(token)))
    return row if row is not None and still_counts(db, user, row) else None


def still_counts(db: Session, user: User, row: RememberedBrowser) -> bool:
    """Whether this remembered browser still lets `user` skip the second factor (also asked when a session
    that skipped it is reused: idp.browser.session_policy)."""
    current, days = now(), days_allowed(user)
    if days == 0 or row.user_id != user.id or not user.is_active:
        return False
    if row.expires_at <= current or row.created_at + timedelta(days=days) <= current:
        return False
    since = _forgotten_since(db, user)
    if since is not None and row.created_at < since:
        return False
    return has_second_factor(db, user)      # nothing to skip; and a reset removed every factor


def is_remembered(db: Session, user: User | None, token: str | None, params: Mapping[str, str],
                  acr_mfa: str) -> bool:
    """What the condition `browser_remembered` reads for this sign-in."""
    if user is None or freshness_demanded(params, acr_mfa):
        return False
    return find(db, user, token) is not None


def may_offer(user: User | None, params: Mapping[str, str], acr_mfa: str) -> int:
    """The number of days for the "Don't ask again" checkbox, or 0 when it is not offered."""
    if user is None or freshness_demanded(params, acr_mfa):
        return 0
    return days_allowed(user)


def remember(db: Session, user: User, *, https: bool, ip: str | None, user_agent: str | None) -> CookieSpec | None:
    """A new remembered browser for `user` (None when the organisation does not allow it)."""
    days = days_allowed(user)
    if days == 0:
        return None
    token = new_token()
    current = now()
    db.add(RememberedBrowser(user_id=user.id, token_digest=digest(token), user_agent=(user_agent or "")[:400] or None,
                             ip=ip, created_at=current, expires_at=current + timedelta(days=days)))
    db.flush()
    return CookieSpec(cookie_name(https), token, days * 86400, secure=https)


def touch(row: RememberedBrowser) -> None:
    row.last_used_at = now()


def listed(db: Session, user: User) -> list[RememberedBrowser]:
    """The user's remembered browsers that still count, newest first (stale rows are removed)."""
    rows = list(db.scalars(sa.select(RememberedBrowser).where(RememberedBrowser.user_id == user.id)
                           .order_by(RememberedBrowser.created_at.desc(), RememberedBrowser.id.desc())))
    current, days, since = now(), days_allowed(user), _forgotten_since(db, user)
    live = []
    for row in rows:
        alive = (days > 0 and row.expires_at > current and row.created_at + timedelta(days=days) > current
                 and (since is None or row.created_at >= since))
        if alive:
            live.append(row)
        else:
            db.delete(row)
    db.flush()
    return live


def forget(db: Session, user: User, row_id: int) -> bool:
    """Forget one of the user's remembered browsers; False when it is not theirs (or already gone)."""
    return db.execute(sa.delete(RememberedBrowser).where(RememberedBrowser.id == row_id,
                                                         RememberedBrowser.user_id == user.id)).rowcount == 1


def forget_all(db: Session, user_id: int) -> int:
    """Forget every remembered browser of the user (password change, new factor, 2FA reset, "Forget all")."""
    return db.execute(sa.delete(RememberedBrowser).where(RememberedBrowser.user_id == user_id)).rowcount
