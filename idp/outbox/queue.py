"""Jobs in the `outbox_job` table: enqueue (encrypted payload), claim atomically, finish, retry or bury.

Claiming works the same with several workers and several servers: candidates are read (PostgreSQL: `FOR UPDATE
SKIP LOCKED`, so two workers never wait on each other's rows), then each is taken with a conditional UPDATE of
its lease (`WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < now)`); only a rowcount of 1 wins.
A worker that dies mid-delivery leaves a lease that expires: another worker retries the job."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.clock import now
from idp.models import OutboxJob
from idp.security.secrets import new_token

if TYPE_CHECKING:
    from idp.config import OutboxConfig
    from idp.security.encryption import KeyEncryption

ENQUEUED = "outbox.enqueued"      # Session.info flag: this unit of work queued something (wake a worker)
KEK = "outbox.kek"                # Session.info: the key-encryption key (idp.services), for code given only `db`
MAX_ERROR = 300


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds the lease of, with its decrypted payload."""

    id: int
    kind: str
    payload: bytes                # ciphertext: the worker decrypts it (a bad key buries the job, not the batch)
    attempts: int
    lease_token: str


def enqueue(db: Session, kek: "KeyEncryption", kind: str, payload: dict[str, Any], *,
            delay: timedelta | None = None) -> OutboxJob:
    """Queue one job in `db`'s transaction (nothing is sent if it rolls back). The payload is encrypted whole."""
    from .registry import require

    require(kind)
    current = now()
    job = OutboxJob(kind=kind, payload=kek.encrypt(json.dumps(payload).encode()), status="pending", attempts=0,
                    created_at=current, next_attempt_at=current + (delay or timedelta(0)))
    db.add(job)
    db.flush()
    db.info[ENQUEUED] = True
    return job


def claim(db: Session, config: "OutboxConfig", limit: int = 10) -> list[Claimed]:
    """Take up to `limit` due jobs for this worker (commit right after: the lease is the lock)."""
    current = now()
    free = sa.or_(OutboxJob.lease_until.is_(None), OutboxJob.lease_until < current)
    due = sa.and_(OutboxJob.status == "pending", OutboxJob.next_attempt_at <= current, free)
    ids = list(db.scalars(sa.select(OutboxJob.id).where(due).order_by(OutboxJob.next_attempt_at, OutboxJob.id)
                          .limit(limit).with_for_update(skip_locked=True)))
    taken = []
    for job_id in ids:
        token = new_token()
        won = db.execute(sa.update(OutboxJob).where(OutboxJob.id == job_id, due).values(
            lease_until=current + timedelta(seconds=config.lease_seconds), lease_token=token,
            attempts=OutboxJob.attempts + 1).execution_options(synchronize_session=False)).rowcount
        if won == 1:
            taken.append(token)
    rows = db.execute(sa.select(OutboxJob.id, OutboxJob.kind, OutboxJob.payload, OutboxJob.attempts,
                                OutboxJob.lease_token).where(OutboxJob.lease_token.in_(taken))) if taken else []
    return [Claimed(row.id, row.kind, row.payload, row.attempts, row.lease_token) for row in rows]


def decrypt(kek: "KeyEncryption", job: Claimed) -> dict[str, Any]:
    return json.loads(kek.decrypt(job.payload))


def _held(job: Claimed) -> sa.ColumnElement[bool]:
    return sa.and_(OutboxJob.id == job.id, OutboxJob.lease_token == job.lease_token, OutboxJob.status == "pending")


def finish(db: Session, job: Claimed) -> bool:
    """The job was delivered: done, its payload erased (a link or code is not kept). False: lease lost."""
    return db.execute(sa.update(OutboxJob).where(_held(job)).values(
        status="done", finished_at=now(), payload=b"", lease_until=None, lease_token=None, last_error=None)
        .execution_options(synchronize_session=False)).rowcount == 1


def fail(db: Session, job: Claimed, error: str, config: "OutboxConfig", *, final: bool = False) -> str | None:
    """The attempt failed: retry later with back-off, or bury the job after max_attempts or when `final`
    ("dead"; payload erased). Returns the new status ("pending" | "dead"), None when the lease was lost."""
    current = now()
    if final or job.attempts >= config.max_attempts:
        values: dict[str, Any] = {"status": "dead", "finished_at": current, "payload": b""}
    else:
        values = {"next_attempt_at": current + backoff(job.attempts, config)}
    values.update(lease_until=None, lease_token=None, last_error=error[:MAX_ERROR])
    changed = db.execute(sa.update(OutboxJob).where(_held(job)).values(**values)
                         .execution_options(synchronize_session=False)).rowcount
    return values.get("status", "pending") if changed == 1 else None


def backoff(attempts: int, config: "OutboxConfig") -> timedelta:
    """30 s, 1 min, 2 min, 4 min, ... at most retry_max_seconds (attempts counts the failed tries)."""
    seconds = config.retry_base_seconds * 2 ** max(0, min(attempts - 1, 20))
    return timedelta(seconds=min(seconds, config.retry_max_seconds))


def purge(db: Session, config: "OutboxConfig") -> int:
    """Remove sent jobs older than keep_done_days (dead ones stay for operators)."""
    before = now() - timedelta(days=config.keep_done_days)
    return db.execute(sa.delete(OutboxJob).where(OutboxJob.status == "done", OutboxJob.finished_at < before)
                      .execution_options(synchronize_session=False)).rowcount


def listing(db: Session, status: str | None = None, limit: int = 50) -> list[OutboxJob]:
    """Newest first, for `idp outbox list` (payloads stay encrypted; callers show kind/status/error only)."""
    query = sa.select(OutboxJob).order_by(OutboxJob.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxJob.status == status)
    return list(db.scalars(query))


def counts(db: Session) -> dict[str, int]:
    return dict(db.execute(sa.select(OutboxJob.status, sa.func.count()).group_by(OutboxJob.status)).all())

