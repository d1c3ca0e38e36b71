"""The audit log: append-only, hash-chained per organisation so edits behind our back are detected."""
from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.clock import now
from idp.fast_lookup import Statement, upsert_into
from idp.models import AuditChainHead, AuditEvent, User

GENESIS = "0" * 64
AUDIT_KEY = "audit_key"
APPENDED = "idp.audit.appended"     # session.info: the entries this session wrote since its last commit/rollback
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
    """Append one entry to its organisation's chain (the chain head row is locked meanwhile): two statements
    on PostgreSQL, three on SQLite (see `_lock_head` and `_append`). The entry returned is not in `db`; it is
    listed in `db.info[APPENDED]` until the session's transaction ends."""
    details = _scrub(details or {})
    key = _key(organisation_id)
    seq, prev = _lock_head(db, key)
    entry = AuditEvent(organisation_id=organisation_id, seq=seq + 1, at=now(), actor=actor.name,
                       target_user_id=target_user_id, target=target, event=event, outcome=outcome,
                       ip=actor.ip, user_agent=(actor.user_agent or "")[:400] or None,
                       details=details, prev_digest=prev, digest="")
    entry.digest = entry_digest(entry, chain_key(db))
    _append(db, key, entry)
    db.info.setdefault(APPENDED, []).append(entry)   # for listeners that act on commit (sign-in metrics)
    return entry


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    if SECRET_KEYS & {k.lower() for k in details}:
        raise ValueError("audit details must never hold a secret")
    return json.loads(json.dumps(details, default=str))


def _key(organisation_id: int | None) -> str:
    return "system" if organisation_id is None else f"org:{organisation_id}"


def _lock_head(db: Session, key: str) -> tuple[int, str]:
    """The chain head's (seq, digest), locked until the transaction ends, in one statement: an upsert that
    creates a missing head (GENESIS) and otherwise "updates" it to itself, which takes the row lock and reads
    the latest committed version (PostgreSQL waits for a concurrent writer's commit, then sees its entry;
    SQLite's BEGIN IMMEDIATE holds the whole database already). Read through Core: an object in the
    session's identity map could be a stale copy from an earlier transaction. The caller's pending changes are
    flushed first (unless autoflush is off), as any query would: every writer locks the rows it changes
    before the chain head, never after."""
    if db.autoflush and (db.new or db.dirty or db.deleted):
        db.flush()
    row = _head_upsert(db.get_bind().dialect.name).rows_in(db, key=key)[0]
    return row.seq, row.digest


def _append(db: Session, key: str, entry: AuditEvent) -> None:
    """Move the head to `entry` and insert it: one statement on PostgreSQL (the head's UPDATE as a data-
    modifying WITH of the INSERT), two on SQLite (no data-modifying WITH there)."""
    values = {column.key: getattr(entry, column.key) for column in _EVENT_COLUMNS}
    if db.get_bind().dialect.name == "postgresql":
        _INSERT_EVENT_MOVING_HEAD.rowcount_in(db, key=key, **values)    # the head moves to the entry's seq, digest
        return
    _MOVE_HEAD.rowcount_in(db, key=key, seq=entry.seq, digest=entry.digest)
    _INSERT_EVENT.rowcount_in(db, **values)


# The statements, compiled once per dialect (idp.fast_lookup): they run on the session's connection in its
# transaction, and leave its pending changes alone (`_lock_head` flushes them first).
_HEAD = AuditChainHead.__table__
_EVENT_COLUMNS = tuple(column for column in AuditEvent.__table__.columns if column.key != "id")
_MOVE = sa.update(_HEAD).where(_HEAD.c.organisation_key == sa.bindparam("key")) \
    .values(seq=sa.bindparam("seq"), digest=sa.bindparam("digest"))
_INSERT = sa.insert(AuditEvent.__table__).values(
    {column.key: sa.bindparam(column.key, type_=column.type) for column in _EVENT_COLUMNS})
_MOVE_HEAD = Statement(_MOVE)
_INSERT_EVENT = Statement(_INSERT)
_INSERT_EVENT_MOVING_HEAD = Statement(_INSERT.add_cte(_MOVE.cte("moved_head")))    # PostgreSQL


@functools.cache
def _head_upsert(dialect: str) -> Statement:
    statement = upsert_into(dialect, _HEAD).values(organisation_key=sa.bindparam("key"), seq=0, digest=GENESIS)
    statement = statement.on_conflict_do_update(index_elements=[_HEAD.c.organisation_key],
                                                set_={"seq": _HEAD.c.seq})
    return Statement(statement.returning(_HEAD.c.seq, _HEAD.c.digest))


def entry_digest(entry: AuditEvent, key: bytes) -> str:
    """HMAC-SHA256 over the entry's content and the previous digest. The key derives from the deployment's
    key-encryption key, which is not in the database: someone who can only write to the database cannot
    re-hash a chain they edited."""
    content = {
        "organisation_id": entry.organisation_id, "seq": entry.seq, "at": entry.at.isoformat(),
        "actor": entry.actor, "target_user_id": entry.target_user_id, "target": entry.target,
        "event": entry.event, "outcome": entry.outcome, "ip": entry.ip, "user_agent": entry.user_agent,
        "details": entry.details, "prev": entry.prev_digest,
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


def chain_key(db: Session) -> bytes:
    """The audit chain's HMAC key, attached to every session by idp.services (fails closed without it)."""
    key = db.info.get(AUDIT_KEY)
    if not key:
        raise RuntimeError("this database session has no audit key; build it through idp.services")
    return key


def derive_chain_key(key_encryption_key: bytes) -> bytes:
    return hashlib.sha256(b"fentu-idp audit chain v1\x00" + key_encryption_key).digest()


def entries(db: Session, organisation_id: int | None) -> Iterator[AuditEvent]:
    query = sa.select(AuditEvent).where(AuditEvent.organisation_id.is_(organisation_id)
                                        if organisation_id is None else
                                        AuditEvent.organisation_id == organisation_id)
    return iter(db.scalars(query.order_by(AuditEvent.seq)))


def verify_chain(db: Session, organisation_id: int | None) -> AuditEvent | None:
    """The first entry where the chain breaks (edited, removed or reordered), or None if intact.
    (A deleted *last* entry leaves no entry to name: use `verify`, which also checks the chain head.)"""
    previous = GENESIS
    expected_seq = 1
    for entry in entries(db, organisation_id):
        wrong = entry.prev_digest != previous or entry_digest(entry, chain_key(db)) != entry.digest
        if entry.seq != expected_seq or wrong:
            return entry
        previous, expected_seq = entry.digest, expected_seq + 1
    return None


# --- verifying, with the chain head ---------------------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    """The result of checking one chain: `intact`, how many entries were `checked`, and where it breaks."""

    chain: str
    intact: bool
    checked: int
    broken_seq: int | None = None     # the first entry (by sequence number) that is wrong or missing
    problem: str = ""


def verify(db: Session, organisation_id: int | None) -> Verification:
    """Walk the chain from the start; name the first entry that was edited, removed or reordered, and
    compare the end with the chain head so that deleted entries at the end are found too."""
    chain = _key(organisation_id)
    previous, expected_seq, checked = GENESIS, 1, 0
    for entry in entries(db, organisation_id):
        if entry.seq != expected_seq:
            missing = (f"entry #{expected_seq} is missing" if entry.seq > expected_seq
                       else f"entry #{entry.seq} appears twice or out of order")
            return Verification(chain, False, checked, expected_seq,
                                f"{missing} (found #{entry.seq} where #{expected_seq} should be)")
        if entry.prev_digest != previous:
            return Verification(chain, False, checked, entry.seq,
                                f"entry #{entry.seq} does not follow entry #{entry.seq - 1} (an entry was "
                                f"replaced or removed)")
        if entry_digest(entry, chain_key(db)) != entry.digest:
            return Verification(chain, False, checked, entry.seq,
                                f"entry #{entry.seq} ({entry.event}, {entry.at.isoformat()}) was changed after "
                                "it was written")
        previous, expected_seq, checked = entry.digest, expected_seq + 1, checked + 1
    head = db.get(AuditChainHead, chain, populate_existing=True)
    last_seq = expected_seq - 1
    head_seq, head_digest = (head.seq, head.digest) if head is not None else (0, GENESIS)
    if head is None and last_seq > 0:
        return Verification(chain, False, checked, None, "the chain head is missing (it was deleted)")
    if head_seq > last_seq:
        return Verification(chain, False, checked, last_seq + 1,
                            f"entries #{last_seq + 1} to #{head_seq} were deleted from the end of the log "
                            f"(the chain head says the last entry is #{head_seq})")
    if head_seq < last_seq or head_digest != previous:
        return Verification(chain, False, checked, last_seq,
                            f"the chain head does not match entry #{last_seq} (the head or the last entry "
                            "was changed)")
    return Verification(chain, True, checked)


def chains(db: Session) -> list[int | None]:
    """Every organisation id that has a chain (None: the deployment-wide chain)."""
    from idp.models import Organisation

    ids: list[int | None] = list(db.scalars(sa.select(Organisation.id).order_by(Organisation.id)))
    return [None, *ids]


# --- reading and exporting ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    """What an administrator asks for: entries about or by a user (email), one event, a date range."""

    user: str | None = None
    event: str | None = None
    since: datetime | None = None     # inclusive
    until: datetime | None = None     # exclusive

    @classmethod
    def from_strings(cls, user: str | None = None, event: str | None = None, since: str | None = None,
                     until: str | None = None) -> "AuditFilter":
        """Dates as YYYY-MM-DD (UTC days; `until` includes that whole day) or ISO timestamps; ValueError
        with a plain message otherwise."""
        start = parse_when(since, "from") if since else None
        end = parse_when(until, "to", end_of_day=True) if until else None
        if start and end and end <= start:
            raise ValueError("the end of the date range must be after its start")
        return cls(user=(user or "").strip().lower() or None, event=(event or "").strip() or None,
                   since=start, until=end)


def parse_when(value: str, label: str, *, end_of_day: bool = False) -> datetime:
    from datetime import UTC

    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end_of_day else day
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{label}: {value!r} is not a date (use YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _where(db: Session, organisation_id: int | None, filt: AuditFilter) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [
        AuditEvent.organisation_id.is_(None) if organisation_id is None
        else AuditEvent.organisation_id == organisation_id]
    if filt.user:
        about = [AuditEvent.target == filt.user, AuditEvent.actor == f"user:{filt.user}"]
        user_id = db.scalar(sa.select(User.id).where(User.email == filt.user,
                                                     User.organisation_id == organisation_id))
        if user_id is not None:
            about.append(AuditEvent.target_user_id == user_id)
        where.append(sa.or_(*about))
    if filt.event:
        where.append(AuditEvent.event == filt.event)
    if filt.since:
        where.append(AuditEvent.at >= filt.since)
    if filt.until:
        where.append(AuditEvent.at < filt.until)
    return where


def search(db: Session, organisation_id: int | None, filt: AuditFilter, *, limit: int = 50,
           offset: int = 0) -> tuple[list[AuditEvent], int]:
    """One page of matching entries, newest first, and how many match in all."""
    where = _where(db, organisation_id, filt)
    total = db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(*where)) or 0
    rows = list(db.scalars(sa.select(AuditEvent).where(*where).order_by(AuditEvent.seq.desc())
                           .limit(limit).offset(offset)))
    return rows, total


def matching(db: Session, organisation_id: int | None, filt: AuditFilter) -> Iterator[AuditEvent]:
    """Every matching entry in chain order (oldest first), read in batches."""
    where = _where(db, organisation_id, filt)
    last = 0
    while True:
        batch = list(db.scalars(sa.select(AuditEvent).where(*where, AuditEvent.seq > last)
                                .order_by(AuditEvent.seq).limit(500)))
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def event_names(db: Session, organisation_id: int | None) -> list[str]:
    where = _where(db, organisation_id, AuditFilter())
    return list(db.scalars(sa.select(AuditEvent.event).where(*where).distinct().order_by(AuditEvent.event)))


EXPORT_FIELDS = ("seq", "at", "actor", "event", "outcome", "target", "target_user_id", "ip", "user_agent",
                 "details", "prev_digest", "digest")
FORMATS = ("csv", "jsonl")


def as_dict(entry: AuditEvent) -> dict[str, Any]:
    return {"seq": entry.seq, "at": entry.at.isoformat(), "actor": entry.actor, "event": entry.event,
            "outcome": entry.outcome, "target": entry.target, "target_user_id": entry.target_user_id,
            "ip": entry.ip, "user_agent": entry.user_agent, "details": entry.details,
            "prev_digest": entry.prev_digest, "digest": entry.digest}


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula (=, +, -, @, tab, CR) is prefixed with '."""
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True, separators=(",", ":")) if isinstance(value, dict) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_lines(rows: Iterable[AuditEvent], fmt: str) -> Iterator[str]:
    """The entries as CSV (with a header row) or JSON lines, each yielded line ending in a newline."""
    if fmt == "jsonl":
        for entry in rows:
            yield json.dumps(as_dict(entry), sort_keys=True, separators=(",", ":")) + "\n"
        return
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r} (use csv or jsonl)")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(list(values))
        return buffer.getvalue()

    yield line(EXPORT_FIELDS)
    for entry in rows:
        data = as_dict(entry)
        yield line(_cell(data[name]) for name in EXPORT_FIELDS)
