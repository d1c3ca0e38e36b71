"""The audit log: append-only, hash-chained per organisation so edits behind our back are detected."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.clock import now
from idp.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
SECRET_KEYS = {"password", "code", "secret", "token", "recovery_code", "client_secret", "otp"}


@dataclass(frozen=True)
class Actor:
    """Who did it: `user:<email>`, `cli:<os user>`, `system`, or `anonymous`; where from."""

    name: str
    ip: str | None = None
    user_agent: str | None = None


def record(db: Session, event: str, actor: Actor, *, organisation_id: int | None,
           target_user_id: int | None = None, target: str | None = None,
           outcome: str = "success", details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one entry to its organisation's chain (the chain head row is locked meanwhile)."""
    details = _scrub(details or {})
    head = _lock_head(db, organisation_id)
    entry = AuditEvent(organisation_id=organisation_id, seq=head.seq + 1, at=now(), actor=actor.name,
                       target_user_id=target_user_id, target=target, event=event, outcome=outcome,
                       ip=actor.ip, user_agent=(actor.user_agent or "")[:400] or None,
                       details=details, prev_digest=head.digest, digest="")
    entry.digest = entry_digest(entry)
    head.seq, head.digest = entry.seq, entry.digest
    db.add(entry)
    db.flush()
    return entry


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    if SECRET_KEYS & {k.lower() for k in details}:
        raise ValueError("audit details must never hold a secret")
    return json.loads(json.dumps(details, default=str))


def _key(organisation_id: int | None) -> str:
    return "system" if organisation_id is None else f"org:{organisation_id}"


def _lock_head(db: Session, organisation_id: int | None) -> AuditChainHead:
    key = _key(organisation_id)
    # populate_existing: a head object left in this session's identity map by an earlier transaction
    # (sessions do not expire on commit) must be re-read under the lock, or two writers fork the chain.
    query = (sa.select(AuditChainHead).where(AuditChainHead.organisation_key == key).with_for_update()
             .execution_options(populate_existing=True))
    head = db.scalar(query)
    if head is None:
        _create_head(db, key)
        head = db.scalar(query)
    return head


def _create_head(db: Session, key: str) -> None:
    """Insert the chain head if missing; a concurrent insert of the same head is harmless."""
    table = AuditChainHead.__table__
    values = {"organisation_key": key, "seq": 0, "digest": GENESIS}
    if db.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        db.execute(insert(table).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert
        db.execute(insert(table).values(**values).on_conflict_do_nothing())


def entry_digest(entry: AuditEvent) -> str:
    content = {
        "organisation_id": entry.organisation_id, "seq": entry.seq, "at": entry.at.isoformat(),
        "actor": entry.actor, "target_user_id": entry.target_user_id, "target": entry.target,
        "event": entry.event, "outcome": entry.outcome, "ip": entry.ip, "user_agent": entry.user_agent,
        "details": entry.details, "prev": entry.prev_digest,
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def entries(db: Session, organisation_id: int | None) -> Iterator[AuditEvent]:
    query = sa.select(AuditEvent).where(AuditEvent.organisation_id.is_(organisation_id)
                                        if organisation_id is None else
                                        AuditEvent.organisation_id == organisation_id)
    return iter(db.scalars(query.order_by(AuditEvent.seq)))


def verify_chain(db: Session, organisation_id: int | None) -> AuditEvent | None:
    """The first entry where the chain breaks (edited, removed or reordered), or None if intact."""
    previous = GENESIS
    expected_seq = 1
    for entry in entries(db, organisation_id):
        if entry.seq != expected_seq or entry.prev_digest != previous or entry_digest(entry) != entry.digest:
            return entry
        previous, expected_seq = entry.digest, expected_seq + 1
    return None
