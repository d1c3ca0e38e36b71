"""Login transactions: a sign-in in progress, in the database so any worker can continue it.

The browser holds a random handle (in its signed session cookie); the row holds only its digest,
and a digest of a per-browser secret, so a handle copied to another browser is refused.

Statuses: `active` (signing in) -> `done` when the sign-in completes; an application's sign-in whose answer
has to wait (consent, a notice page) is held as `signed_in` (`hold`: the person is signed in and the stored
authorization request waits; the row is the ONLY copy of that request) until the authorization response is
issued (`done`); or `failed`. Each status is loaded on purpose, so a finished transaction cannot be resumed
twice, and a request nobody held cannot be resumed at all."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import clients
from idp.clock import now
from idp.fast_lookup import EntityLookup
from idp.flow.state import FlowState
from idp.models import Client, LoginTransaction, Organisation, User
from idp.security.secrets import digest, digest_matches, new_token


class TransactionProblem(Exception):
    """The sign-in cannot continue; `message` says why in words for the person signing in."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


ACTIVE, SIGNED_IN, DONE, FAILED = "active", "signed_in", "done", "failed"

EXPIRED = "This sign-in took too long and has expired. Please start again."
MISSING = "There is no sign-in in progress in this browser. Please start again from the application."
FINISHED = "This sign-in has already finished. Please start again from the application."


@dataclass
class Started:
    transaction: LoginTransaction
    handle: str


def start(db: Session, *, flow: str, policy_digest: str, browser_secret: str, ttl_minutes: int,
          purpose: str = "authorize", client_id: str | None = None, params: dict[str, Any] | None = None,
          state: FlowState | None = None, user_id: int | None = None, provider: str | None = None,
          status: str = ACTIVE) -> Started:
    handle = new_token()
    tx = LoginTransaction(
        handle_digest=digest(handle), browser_binding=digest(browser_secret), flow=flow,
        policy_digest=policy_digest, purpose=purpose, client_id=client_id, request_params=params or {},
        user_id=user_id, provider=provider, state=(state or FlowState(user_id=user_id)).to_json(), status=status,
        created_at=now(), expires_at=now() + timedelta(minutes=ttl_minutes))
    db.add(tx)
    return Started(tx, handle)     # inserted at the next flush (with what the first page records in it)


def load(db: Session, handle: str | None, browser_secret: str | None, *, for_update: bool = True,
         status: str = ACTIVE) -> LoginTransaction:
    """The transaction in `status` for this handle in this browser; TransactionProblem otherwise. `for_update`
    (the request goes on with the sign-in): row-locked (`_locked`)."""
    if not handle or not browser_secret:
        raise TransactionProblem(MISSING)
    handle_digest = digest(handle)
    tx = _locked(db, handle_digest) if for_update else db.scalar(_by_digest(handle_digest))
    if tx is None or not digest_matches(browser_secret, tx.browser_binding):
        raise TransactionProblem(MISSING)
    if tx.status != status:
        raise TransactionProblem(FINISHED if tx.status in (DONE, FAILED) or status == ACTIVE else MISSING)
    if tx.expires_at <= now():
        raise TransactionProblem(EXPIRED)
    return tx


# The row by its handle's digest, locked, with its user (and the user's organisation) and its client in the same
# precompiled statement (idp.fast_lookup): PostgreSQL skips a row another request holds (see `_locked`);
# SQLite renders no FOR UPDATE (its transaction holds the database's write lock already).
_LOCKED_WITH_USER_AND_CLIENT = EntityLookup(
    (LoginTransaction, User, Organisation, Client),
    lambda columns: columns.select_from(LoginTransaction)
    .outerjoin(User, User.id == LoginTransaction.user_id)
    .outerjoin(Organisation, Organisation.id == User.organisation_id)
    .outerjoin(Client, Client.client_id == LoginTransaction.client_id)
    .where(LoginTransaction.handle_digest == sa.bindparam("digest"))
    .with_for_update(of=LoginTransaction, skip_locked=True))


def _locked(db: Session, handle_digest: str) -> LoginTransaction | None:
    """The row, locked. When the lock comes at once, its user and client come in the same statement (found
    then by `db.get` and `clients.by_client_id`): PostgreSQL tries with SKIP LOCKED; SQLite's transaction holds
    the database's write lock already. When another request of the sign-in holds the row, wait for it alone:
    rows joined to a statement that waited would be as they were before the wait (READ COMMITTED re-reads only
    the locked row), so the user and client are read after it."""
    found = _LOCKED_WITH_USER_AND_CLIENT.first_in(db, digest=handle_digest)
    if found is None:
        if db.get_bind().dialect.name != "postgresql":
            return None
        return db.scalar(_by_digest(handle_digest).with_for_update())
    tx, _user, _organisation, client = found
    if tx.client_id is not None:
        clients.loaded_with(db, tx.client_id, client)
    return tx


def by_handle(db: Session, handle: str | None) -> LoginTransaction | None:
    """The browser's last transaction whatever its status (to start the same request over)."""
    if not handle:
        return None
    return db.scalar(_by_digest(digest(handle)))


def _by_digest(handle_digest: str) -> sa.Select:
    return sa.select(LoginTransaction).where(LoginTransaction.handle_digest == handle_digest)


def rebind(tx: LoginTransaction, browser_secret: str) -> str:
    """A new handle (and browser binding) for the row: the cookie was rotated at sign-in, the handle too."""
    handle = new_token()
    tx.handle_digest, tx.browser_binding = digest(handle), digest(browser_secret)
    return handle


def flow_state(tx: LoginTransaction) -> FlowState:
    return FlowState.from_json(tx.state)


def save(tx: LoginTransaction, state: FlowState) -> None:
    tx.state = state.to_json()
    tx.user_id = state.user_id
    tx.failures = state.failures


def count_failure(db: Session, tx_id: int, *, limit: int, stop: bool = False) -> bool:
    """One more wrong answer in the transaction, written on its own (idp.db.redo_if_rolled_back). A sign-in
    still in progress fails when this answer ended it (`stop`) or its stored count reaches `limit` (a parallel
    request of the same browser may have counted one meanwhile). True when it failed one."""
    tx = db.scalar(sa.select(LoginTransaction).where(LoginTransaction.id == tx_id).with_for_update())
    if tx is None:
        return False
    state = flow_state(tx)
    state.failures += 1
    save(tx, state)
    if (stop or state.failures >= limit) and tx.status == ACTIVE:
        finish(tx, FAILED)
        return True
    return False


def finish(tx: LoginTransaction, status: str = DONE) -> None:
    tx.status = status


def hold(tx: LoginTransaction) -> None:
    """The application's answer has to wait (consent, a notice page): this browser may resume the request."""
    tx.status = SIGNED_IN


def stop_for_user(db: Session, user_id: int) -> None:
    """Every sign-in of the user in progress stops (`failed`). Call it before changing anything of the user: a
    sign-in locks its transaction, then the user's row, and so must every other writer, or the two deadlock
    (PostgreSQL; tests/hardening/test_lock_order.py)."""
    db.execute(sa.update(LoginTransaction).where(LoginTransaction.user_id == user_id, LoginTransaction.status == ACTIVE)
               .values(status=FAILED).execution_options(synchronize_session=False))


def purge_expired(db: Session, older_than: timedelta = timedelta(days=1)) -> int:
    cutoff = now() - older_than
    return db.execute(sa.delete(LoginTransaction).where(LoginTransaction.expires_at < cutoff)).rowcount
