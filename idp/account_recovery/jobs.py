"""Outbox job kinds of account recovery: `password_reset` looks the address up after the response."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idp.outbox.registry import handler

from . import passwords

if TYPE_CHECKING:
    from idp.services import Services


@handler(passwords.RESET_JOB)
def reset_requested(services: "Services", payload: dict[str, Any]) -> None:
    """{"email", "ip"}: an account gets a link (queued as an `email` job in the same commit); no account, nothing."""
    with services.database.session() as db:
        passwords.send_reset_link(db, services, payload["email"], ip=payload.get("ip"))
