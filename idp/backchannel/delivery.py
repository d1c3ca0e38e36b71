"""Delivering a Logout Token (Back-Channel Logout 1.0 §2.5): an `application/x-www-form-urlencoded` POST of
`logout_token` to the client's backchannel_logout_uri, answered 2xx (§2.8); no redirect is followed.

A short timeout: a slow or dead application only delays its own job, which is retried with the queue's
back-off; once buried, the audit log names the client (`backchannel_logout_failed`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.clock import now
from idp.models import Client
from idp.outbox.handlers import send_form
from idp.outbox.registry import handler

from .logout_token import encode_logout_token, logout_token_claims
from .notify import KIND

if TYPE_CHECKING:
    from idp.services import Services

TIMEOUT_SECONDS = 3.0
SYSTEM = Actor(name="system:backchannel")


def _failed(db: Session, services: "Services", payload: dict[str, Any]) -> None:
    client = db.scalar(sa.select(Client).where(Client.client_id == payload["client_id"]))
    audit.record(db, "backchannel_logout_failed", SYSTEM,
                 organisation_id=client.organisation_id if client is not None else None, outcome="failure",
                 target=client.name if client is not None else payload["client_id"],
                 details={"client_id": payload["client_id"],
                          "backchannel_logout_uri": client.backchannel_logout_uri if client is not None else None})


@handler(KIND, on_dead=_failed)
def deliver_logout_token(services: "Services", payload: dict[str, Any]) -> None:
    """{"client_id", "sub", "sid"}: sign a fresh Logout Token and POST it; DeliveryError when not accepted.
    A client since disabled or without a back-channel URI any more is not told (nothing to deliver)."""
    config = services.config
    with services.database.session() as db:
        client = db.scalar(sa.select(Client).where(Client.client_id == payload["client_id"]))
        if client is None or not client.is_active or not client.backchannel_logout_uri:
            return
        uri = client.backchannel_logout_uri
        alg = client.id_token_signed_response_alg or config.tokens.signing_alg
        key = services.keys.signing_key(db, alg)
    claims = logout_token_claims(issuer=config.issuer, client_id=payload["client_id"], subject=payload["sub"],
                                 sid=payload["sid"], at=now())
    token = encode_logout_token(claims, key, alg)
    send_form(uri, {"logout_token": token}, TIMEOUT_SECONDS, receiver="the application")
