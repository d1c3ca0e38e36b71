"""The security notice for an account-wide wrong-secret limit: when, from where (address, browser); no secret."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from idp import audit
from idp.notices import notify_security_event

if TYPE_CHECKING:
    from idp.attempts.counters import Client
    from idp.models import User
    from idp.services import Services

WHAT = {"password": "wrong passwords"}


def _printable(text: str | None, fallback: str) -> str:
    cleaned = "".join(ch for ch in (text or "") if ch.isprintable())[:200]
    return cleaned or fallback


def limit_reached(db: Session, services: "Services", user: "User", kind: str, failures: int, *, locked: bool,
                  client: "Client", when: datetime) -> bool:
    """Audit it and email the owner; True when the email was sent (best effort, never blocks the sign-in)."""
    what = WHAT.get(kind, f"wrong {kind} attempts")
    audit.record(db, f"{kind}_locked" if locked else f"{kind}_throttled",
                 audit.Actor(name="anonymous", ip=client.address, user_agent=client.user_agent),
                 organisation_id=user.organisation_id, target_user_id=user.id, target=user.email,
                 outcome="failure", details={"failures": failures})
    effect = ("Sign-ins from browsers your account was not used in before are now blocked until you reset your "
              "password or an administrator unlocks the account." if locked else
              "Sign-ins from browsers your account was not used in before must now wait between tries.")
    sentence = (f"{failures} {what} in a row were entered for your account. The last one, at "
                f"{when:%Y-%m-%d %H:%M} UTC, came from the address {_printable(client.address, 'unknown')} "
                f"with the browser \u201c{_printable(client.user_agent, 'unknown')}\u201d.\n\n{effect} Browsers "
                "you signed in with before are not affected.")
    return notify_security_event(services, user, sentence)
