"""Limits on wrong secrets per account AND per client, so that a lockout hurts the attacker, not the owner.

NIST SP 800-63B 5.2.2 (at most 100 consecutive failed attempts per account) with OWASP "device cookies":
someone who knows an email address can slow down and finally stop guessing from new places, but cannot
keep the owner out of the browsers and networks they signed in from before.

Use, inside one database transaction (the request's unit of work), for `kind` = "password" (another kind,
e.g. a second-factor code, needs its entry in KINDS/`limits` and, for now, its own WAIT/LOCKED wording):

    client = attempts.Client(address=ip, user_agent=ua, device_cookie=raw_cookie_value)
    verdict = attempts.check(db, services, kind, account, client)
    if not verdict.allowed:       # Status.WAIT (verdict.seconds) or Status.LOCKED: show verdict.message and
        ...                       # do not check the secret (nor count this try)
    if right:  attempts.record_success(db, services, kind, account, client)
    else:      verdict = attempts.record_failure(db, services, kind, account, client, user=user_or_none)
                                  # the verdict for this client's next try: say it along with "not correct"
    attempts.reset(db, kind, account)   # an administrator's unlock, a password reset
    attempts.prune(db, services)        # forget stale counters (also done now and then after a success)
    attempts.device_cookie_after_success(services, account, cookie)  # web layer: the browser's new cookie
    attempts.account_state(db, config, kind, account)                # for administrators: (failures, locked)

`account` is the normalised identifier as typed (an email address). Unknown identifiers get the very same
rows, statements and answers as real accounts: neither the page nor its timing tells whether one exists.
`check` reads the try's counters in one statement and holds them until the transaction ends, so concurrent
tries for one account run one at a time on every worker and server, and none is lost; a counter not stored
yet reads as no failures. On PostgreSQL that statement is an upsert that creates the missing counters and
locks all of them in key order (a row that does not exist cannot be locked; two statements could deadlock);
on SQLite it is a SELECT (BEGIN IMMEDIATE already runs the whole transaction alone). Each outcome is then
one statement: an upsert of every counter of the try.

Counters (table attempt_counter; emails and addresses are stored only inside SHA-256 digests):
* account: consecutive failures from anywhere. From `password_free_failures` on, every try of an UNTRUSTED
  client waits (30 s, doubling, at most `password_max_wait_seconds` after the last failure); from
  `password_max_failures` on, untrusted clients are refused until a success, a reset or an unlock. The owner
  is emailed (time, address, user agent) when either limit is reached (idp.attempts.notice).
* address: failures for the account from one network address: the same wait, for EVERY client there.
* device: failures under one device cookie entry (idp.attempts.device_cookies).
A client is trusted when it shows a valid device cookie entry for the account, or (`trust_known_addresses`)
comes from an address that signed in to the account within `known_address_days`, as long as that entry or
address has fewer than `trusted_max_failures` failures of its own."""
from __future__ import annotations

import enum
import functools
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.attempts import device_cookies
from idp.clock import now
from idp.config import LockoutConfig
from idp.db import redo_if_rolled_back
from idp.fast_lookup import Lookup, Statement, numbered, numbered_binds, upsert_into
from idp.models import AttemptCounter, User
from idp.security.secrets import digest

if TYPE_CHECKING:
    from idp.config import AppConfig
    from idp.services import Services

KINDS = ("password", "second_factor")   # second_factor: device counters only (see device_trusted)
PRUNE_ONE_IN = 50            # a success prunes stale counters now and then (successes leak no existence)
FIRST_WAIT_SECONDS = 30
WAIT = "Too many wrong passwords were tried. Please wait {duration} before trying again."
LOCKED = ("Sign-ins to this account from browsers it was not used in before are paused after too many wrong "
          "passwords. Use a browser you signed in with before, reset your password with \u201cForgot your "
          "password?\u201d, or ask your administrator.")


class Status(enum.StrEnum):
    ALLOWED = "allowed"
    WAIT = "wait"          # try again in `seconds`
    LOCKED = "locked"      # not from this client until a success elsewhere, a reset or an unlock


@dataclass(frozen=True)
class Verdict:
    status: Status
    seconds: int = 0
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.status is Status.ALLOWED


ALLOWED = Verdict(Status.ALLOWED)


@dataclass(frozen=True)
class Client:
    """Who is trying: the network address, the user agent (for the notice) and the device cookie value."""

    address: str | None
    user_agent: str | None = None
    device_cookie: str | None = None


@dataclass(frozen=True)
class Limits:
    free_failures: int
    max_failures: int
    max_wait_seconds: int
    trusted_max_failures: int
    device_cookie_days: int
    trust_known_addresses: bool
    known_address_days: int


def limits(config: "AppConfig | None", kind: str) -> Limits:
    """The limits of `kind` from `[lockout]` (its defaults without a config); ValueError for a kind nobody
    configured (fail closed)."""
    if kind not in KINDS:
        raise ValueError(f"no attempt limits for kind {kind!r}")
    lo = config.lockout if config is not None else LockoutConfig()
    return Limits(lo.password_free_failures, lo.password_max_failures, lo.password_max_wait_seconds,
                  lo.trusted_max_failures, lo.device_cookie_days, lo.trust_known_addresses, lo.known_address_days)


def check(db: Session, services: "Services", kind: str, account: str, client: Client) -> Verdict:
    """May `client` try a secret of `kind` for `account` now? Locks the counters (see the module doc)."""
    keys = _keys(services, kind, account, client)
    return _verdict(limits(services.config, kind), _read(db, kind, account, keys), now())


def record_failure(db: Session, services: "Services", kind: str, account: str, client: Client, *,
                   user: User | None = None) -> Verdict:
    """Count a wrong secret on every counter of this try; email `user` (the account, when it exists) when an
    account-wide limit is reached. Returns the verdict for the client's next try. The count stands even if
    `db`'s transaction is then rolled back (idp.db.redo_if_rolled_back)."""
    user_id = user.id if user is not None else None

    def count(session: Session) -> Verdict:
        return _count_failure(session, services, kind, account, client, _user(session, user_id))

    redo_if_rolled_back(db, count)
    return count(db)


def _count_failure(db: Session, services: "Services", kind: str, account: str, client: Client,  # noqa: PLR0913
                   user: User | None) -> Verdict:
    lim, current = limits(services.config, kind), now()
    rows = _upsert(db, kind, account, _keys(services, kind, account, client), current, right=False)
    reached = rows["account"].failures in (lim.free_failures, lim.max_failures)
    if reached and user is not None:
        from idp.attempts.notice import limit_reached

        limit_reached(db, services, user, kind, rows["account"].failures,
                      locked=rows["account"].failures >= lim.max_failures, client=client, when=current)
    return _verdict(lim, rows, current)


def _user(db: Session, user_id: int | None) -> User | None:
    """The account in `db` (from its identity map when it was loaded there)."""
    return db.get(User, user_id) if user_id is not None else None


def record_success(db: Session, services: "Services", kind: str, account: str, client: Client) -> None:
    """A right secret: every counter of this try starts over; the address becomes known for the account."""
    _upsert(db, kind, account, _keys(services, kind, account, client), now(), right=True)
    if secrets.randbelow(PRUNE_ONE_IN) == 0:
        prune(db, services)


def device_trusted(db: Session, services: "Services", kind: str, account: str, client: Client) -> bool:
    """Whether `client` shows a valid device cookie entry for `account` that answered a secret of `kind` right
    before (a password-only sign-in does not count) and has fewer than `trusted_max_failures` failures of its
    own since. The account-wide second-factor lock leaves such a browser alone (idp.factors.verification).
    Locks the device's counter until the transaction ends (a device with no counter yet is not trusted)."""
    key = _keys(services, kind, account, client).get("device")
    if key is None:
        return False
    row = db.execute(sa.select(*_STATE).where(AttemptCounter.key == key).with_for_update()).first()
    return (row is not None and row.last_success_at is not None
            and row.failures < limits(services.config, kind).trusted_max_failures)


def record_device(db: Session, services: "Services", kind: str, account: str, client: Client, *,
                  right: bool) -> None:
    """Count a wrong answer of `kind` against the client's device cookie entry (a count that stands even if
    `db`'s transaction is then rolled back), or start it over on a right one."""
    key = _keys(services, kind, account, client).get("device")
    if key is None:
        return

    def count(session: Session) -> None:
        _upsert(session, kind, account, {"device": key}, now(), right=right, known=("device",))

    if not right:
        redo_if_rolled_back(db, count)
    count(db)


def reset(db: Session, kind: str, account: str) -> bool:
    """Forget every failure of `kind` for the account (all clients); True when there were any."""
    result = db.execute(sa.update(AttemptCounter)
                        .where(AttemptCounter.account_key == _account_key(kind, account), AttemptCounter.failures > 0)
                        .values(failures=0, updated_at=now()).execution_options(synchronize_session="fetch"))
    return result.rowcount > 0


def account_state(db: Session, config: "AppConfig | None", kind: str, account: str) -> tuple[int, bool]:
    """(consecutive failures of `kind` for the account from anywhere, whether untrusted clients are locked
    out): what an administrator sees. Takes no lock."""
    failures = db.scalar(sa.select(AttemptCounter.failures).where(
        AttemptCounter.key == _account_key(kind, account))) or 0
    return failures, failures >= limits(config, kind).max_failures


def prune(db: Session, services: "Services") -> int:
    """Delete counters untouched for `known_address_days` (unknown identifiers tried once, old addresses),
    but never one that holds an account-wide lock; the number deleted."""
    lo = services.config.lockout
    cutoff = now() - timedelta(days=lo.known_address_days)
    return db.execute(sa.delete(AttemptCounter).where(
        AttemptCounter.updated_at < cutoff,
        sa.or_(AttemptCounter.scope != "account", AttemptCounter.failures < lo.password_max_failures))
        .execution_options(synchronize_session=False)).rowcount


def device_cookie_after_success(services: "Services", account: str, cookie: str | None) -> str:
    """The device cookie value to give the browser after a successful sign-in to `account`."""
    return device_cookies.issue(services.config.secrets.session_key, cookie, account, now(),
                                services.config.lockout.device_cookie_days)


# --- counters ----------------------------------------------------------------------------------------------

def _account_key(kind: str, account: str) -> str:
    return digest(f"{kind}\x00account\x00{account}")


def _keys(services: "Services", kind: str, account: str, client: Client) -> dict[str, str]:
    keys = {"account": _account_key(kind, account),
            "address": digest(f"{kind}\x00address\x00{account}\x00{client.address or ''}")}
    entry = device_cookies.entry_for(services.config.secrets.session_key, client.device_cookie, account, now(),
                                     services.config.lockout.device_cookie_days)
    if entry is not None:
        keys["device"] = digest(f"{kind}\x00device\x00{entry.nonce}")
    return keys


_STATE = (AttemptCounter.scope, AttemptCounter.failures, AttemptCounter.last_failure_at,
          AttemptCounter.last_success_at)
_COLUMNS = ("key", "kind", "scope", "account_key", "failures", "updated_at", "last_failure_at", "last_success_at")


@functools.cache
def _upsert_statement(dialect: str, right: bool | None, rows: int) -> Statement:
    """The upsert of `rows` counters after a `right` (True), wrong (False) or no (None: only create and lock)
    answer, RETURNING the counters (idp.fast_lookup: made once per dialect, answer and number of rows)."""
    table = AttemptCounter.__table__
    insert = upsert_into(dialect, table)
    new = insert.excluded
    if right is None:
        change = {"key": new.key}        # a no-op update: it locks the existing row and returns it
    elif right:
        change = {"failures": 0, "updated_at": new.updated_at,
                  "last_success_at": sa.func.coalesce(new.last_success_at, table.c.last_success_at)}
    else:
        change = {"failures": table.c.failures + 1, "last_failure_at": new.last_failure_at,
                  "updated_at": new.updated_at}
    return Statement(insert.values(numbered_binds(table, _COLUMNS, rows))
                     .on_conflict_do_update(index_elements=[table.c.key], set_=change).returning(*_STATE))


@functools.cache
def _read_lookup(rows: int) -> Lookup:
    """SELECT the counters whose keys are the parameters key_r0 ... key_r{rows-1} (made once per number)."""
    keys = [binds["key"] for binds in numbered_binds(AttemptCounter.__table__, ("key",), rows)]
    return Lookup(sa.select(*_STATE).where(AttemptCounter.key.in_(keys)))


@dataclass(frozen=True)
class _State:
    """One counter as read: a counter not stored yet has no failures and no success."""

    scope: str
    failures: int = 0
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None


def _states(rows) -> dict[str, _State]:  # noqa: ANN001
    return {row.scope: _State(row.scope, row.failures, row.last_failure_at, row.last_success_at) for row in rows}


def _read(db: Session, kind: str, account: str, keys: dict[str, str]) -> dict[str, _State]:
    """The try's counters by scope, locked until the transaction ends, in one statement. PostgreSQL: one
    upsert creates the missing ones and locks them all in key order (a SELECT ... FOR UPDATE of the existing
    ones followed by an upsert of the rest could deadlock two tries that share counters: each would hold some
    while waiting for the other's). SQLite: one SELECT (its writers are serialised by BEGIN IMMEDIATE)."""
    if db.get_bind().dialect.name == "postgresql":
        found = _upsert(db, kind, account, keys, now(), right=None)
    else:
        found = _states(_read_lookup(len(keys)).all_in(db, **numbered({"key": key} for key in sorted(keys.values()))))
    return {scope: found.get(scope) or _State(scope) for scope in keys}


def _upsert(db: Session, kind: str, account: str, keys: dict[str, str], current: datetime, *,  # noqa: PLR0913
            right: bool | None, known: tuple[str, ...] = ("address",)) -> dict[str, _State]:
    """INSERT the counters as they are after a `right` (True), wrong (False) or no (None: only create and
    lock them) answer, ON CONFLICT DO UPDATE the same way, RETURNING them; a right answer marks the counters
    of the `known` scopes with its time. Rows in key order (no deadlock between two tries that share them)."""
    account_key = _account_key(kind, account)
    values = [{"key": key, "kind": kind, "scope": scope, "account_key": account_key,
               "failures": 1 if right is False else 0, "updated_at": current,
               "last_failure_at": current if right is False else None,
               "last_success_at": current if right and scope in known else None}
              for scope, key in sorted(keys.items(), key=lambda item: item[1])]
    statement = _upsert_statement(db.get_bind().dialect.name, right, len(values))
    return _states(statement.rows_in(db, **numbered(values)))


# --- verdicts ----------------------------------------------------------------------------------------------

def _verdict(lim: Limits, rows: dict[str, _State], current: datetime) -> Verdict:
    seconds = _wait(lim, rows["address"], current)
    if not _trusted(lim, rows["address"], rows.get("device"), current):
        if rows["account"].failures >= lim.max_failures:
            return Verdict(Status.LOCKED, message=LOCKED)
        seconds = max(seconds, _wait(lim, rows["account"], current))
    if seconds:
        return Verdict(Status.WAIT, seconds, WAIT.format(duration=_duration(seconds)))
    return ALLOWED


def _trusted(lim: Limits, address: _State, device: _State | None, current: datetime) -> bool:
    if device is not None and device.failures < lim.trusted_max_failures:
        return True
    known_since = current - timedelta(days=lim.known_address_days)
    return (lim.trust_known_addresses and address.last_success_at is not None
            and address.last_success_at > known_since and address.failures < lim.trusted_max_failures)


def _wait(lim: Limits, row: _State, current: datetime) -> int:
    """Seconds until this counter allows the next try (0: now)."""
    extra = row.failures - lim.free_failures
    if extra < 0 or row.last_failure_at is None:
        return 0
    delay = min(FIRST_WAIT_SECONDS * 2 ** min(extra, 20), lim.max_wait_seconds)
    return max(0, math.ceil((row.last_failure_at + timedelta(seconds=delay) - current).total_seconds()))


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
