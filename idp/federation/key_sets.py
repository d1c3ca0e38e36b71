"""Providers' key sets shared through the database, so that the JWKS refetch limit holds for a fleet.

A token naming a `kid` the cached keys lack makes a worker fetch the provider's `jwks_uri` again (key
rotation, RFC 7517 §4.5), but at most once a minute per provider across every worker and server
(`REFETCH_INTERVAL`): the claim is one conditional UPDATE (or INSERT) in the database, so of two
workers only one fetches. What a worker fetched is stored too, so another worker whose cache is older
picks the new keys up from the database instead of fetching them again. Only public keys are stored.

The limit needs the request's database session: the callback view opens `shared_key_sets(db)` around
the sign-in (idp.web.federation); without one, an unknown `kid` is never fetched again (fail closed)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.clock import now
from idp.models import UpstreamKeySet

REFETCH_INTERVAL = timedelta(minutes=1)


class KeySetStore:
    """The `upstream_key_set` rows, in the caller's session (committed with the request)."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def load(self, provider: str, jwks_uri: str) -> tuple[dict[str, Any], datetime] | None:
        """The stored key set document for this provider and jwks_uri, with when it was fetched."""
        row = self._db.get(UpstreamKeySet, provider)
        if row is None or row.jwks_uri != jwks_uri or not isinstance(row.keys, dict):
            return None
        return row.keys, row.fetched_at

    def save(self, provider: str, jwks_uri: str, document: dict[str, Any]) -> None:
        """Keep what was just fetched for the other workers."""
        row = self._db.get(UpstreamKeySet, provider)
        if row is None:
            self._insert(UpstreamKeySet(provider=provider, jwks_uri=jwks_uri, keys=document, fetched_at=now()))
            return
        row.jwks_uri, row.keys, row.fetched_at = jwks_uri, document, now()
        self._db.flush()

    def claim_refetch(self, provider: str, jwks_uri: str) -> bool:
        """True for the one caller (fleet-wide) allowed to fetch this provider's keys again now."""
        current = now()
        claimed = self._db.execute(
            sa.update(UpstreamKeySet)
            .where(UpstreamKeySet.provider == provider,
                   sa.or_(UpstreamKeySet.refetched_at.is_(None),
                          UpstreamKeySet.refetched_at <= current - REFETCH_INTERVAL))
            .values(refetched_at=current).execution_options(synchronize_session=False)).rowcount
        if claimed == 1:
            self._expire(provider)
            return True
        if self._db.get(UpstreamKeySet, provider) is not None:
            return False
        return self._insert(UpstreamKeySet(provider=provider, jwks_uri=jwks_uri, keys={"keys": []},
                                           fetched_at=current, refetched_at=current))

    def _insert(self, row: UpstreamKeySet) -> bool:
        try:
            with self._db.begin_nested():
                self._db.add(row)
            return True
        except IntegrityError:     # another worker stored it first: theirs stands
            return False

    def _expire(self, provider: str) -> None:
        row = self._db.get(UpstreamKeySet, provider)
        if row is not None:
            self._db.expire(row)


_current: ContextVar[KeySetStore | None] = ContextVar("federation_key_sets", default=None)


@contextmanager
def shared_key_sets(db: Session) -> Iterator[KeySetStore]:
    """Within the block, key refetches of this thread are limited and shared through `db`."""
    store = KeySetStore(db)
    token = _current.set(store)
    try:
        yield store
    finally:
        _current.reset(token)


def current_store() -> KeySetStore | None:
    return _current.get()
