"""Security notices by email ("a new authenticator was added ..."): best effort, never blocks, no secrets."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from idp.models import User

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger(__name__)

EVENTS = {
    "factor_added": "A new second factor (authenticator app, email or phone) was added to your account.",
    "factor_removed": "A second factor was removed from your account.",
    "recovery_codes_generated": "New recovery codes were created for your account; the previous ones no longer work.",
    "recovery_code_used": "A recovery code was used to sign in to your account.",
    "second_factor_locked": "Your second factor was locked after too many wrong codes were entered.",
    "second_factor_reset": "An administrator reset the two-factor authentication of your account.",
    "passkey_added": "A new security key or passkey was added to your account.",
    "password_changed": "The password of your account was changed; every other browser was signed out.",
    "password_reset": "The password of your account was reset with a link sent to this address; every browser "
                      "was signed out.",
}
IF_NOT_YOU = ("If this wasn't you, change your password now and contact your administrator: someone else may "
              "have access to your account.")


def notify_security_event(services: "Services", user: User, what: str, *, to: str | None = None) -> bool:
    """Email the user about `what` (a key of EVENTS, or a sentence); True when sent. A failure is logged
    (without the message) and ignored: a notice must never stop what it reports on. `to`: another address
    than the account's (the OLD address, when the account's address changed)."""
    if not services.mailer.enabled:
        return False
    issuer = services.config.totp.issuer
    sentence = EVENTS.get(what, what)
    body = (f"Hello{' ' + user.name if user.name else ''},\n\n{sentence}\n\n{IF_NOT_YOU}\n\n"
            f"You can review your sign-in methods under Profile > Security.\n\n-- {issuer}\n")
    try:
        _queue_mail(services, user, to or user.email, f"{issuer}: security notice for your account", body)
    except Exception as exc:  # noqa: BLE001 - a notice is best effort by design
        log.warning("security notice %r for user %s not sent: %s", what, user.id, type(exc).__name__)
        return False
    return True


def _queue_mail(services: "Services", user: User, to: str, subject: str, body: str) -> None:
    """Queued in the transaction of what it reports on (idp.outbox), sent after it; a detached `user`: its own."""
    from sqlalchemy.orm import object_session

    from idp import outbox

    payload = {"to": to, "subject": subject, "body": body}
    db = object_session(user)
    if db is not None:
        outbox.enqueue(db, services.kek, "email", payload)
        return
    with services.database.session() as own:
        outbox.enqueue(own, services.kek, "email", payload)
