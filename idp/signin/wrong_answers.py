"""A wrong answer in a sign-in: its audit entry, and its count in the login transaction even if the request fails."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.db import counted_since, redo_if_rolled_back
from idp.flow.engine import TOO_MANY
from idp.flow.state import FlowState
from idp.models import User
from idp.signin import transactions
from idp.signin.request import RequestFacts


@dataclass
class WrongAnswer:
    """One POST's answer, watched from before its step compares it (`watch`: its redo is registered then,
    idp.db.redo_if_rolled_back), so a request that fails anywhere after the comparison still counts it.
    `state` is the sign-in's FlowState: the step's wrong answer raises its `failures` above `before`; a step
    that failed before it could say so has still counted a wrong secret of its own (`_secret_counted`).
    `stops`: why the sign-in stops because of this answer, once the outcome says so."""

    tx_id: int
    flow: str
    step: str
    request: RequestFacts
    state: FlowState
    limit: int                   # the sign-in's own limit (FlowEngine.max_failures)
    stops: str | None = None
    before: int = field(init=False)      # the state's failures before the step ran
    _secret_counted: Callable[[], bool] = field(default=lambda: False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.before = self.state.failures

    def watch(self, db: Session) -> None:
        """Register the redo, before the step runs."""
        redo_if_rolled_back(db, self.redo)
        self._secret_counted = counted_since(db)

    @property
    def counted(self) -> bool:
        return self.state.failures > self.before

    def record(self, db: Session, user: User | None) -> None:
        """The audit entry of the wrong answer, in the request's transaction."""
        who, about = describe(self.request, user)
        audit.record(db, "sign_in_attempt", who, outcome="failure", details={"step": self.step, "flow": self.flow},
                     **about)

    def redo(self, db: Session) -> None:
        """The request did not commit: count the answer in the transaction (failing a sign-in still in
        progress when it was the last allowed, or ended it), with its audit entries."""
        if not (self.counted or self._secret_counted()):
            return
        ended = transactions.count_failure(db, self.tx_id, limit=self.limit, stop=self.stops is not None)
        user = db.get(User, self.state.user_id) if self.state.user_id is not None else None
        self.record(db, user)
        if ended:
            stopped(db, self.request, user, self.stops or TOO_MANY, self.flow)


def describe(request: RequestFacts, user: User | None) -> tuple[Actor, dict]:
    """Who is signing in, and an audit entry's organisation and target (anonymous before the password)."""
    if user is None:
        return request.actor("anonymous"), {"organisation_id": None}
    return (request.actor(f"user:{user.email}"),
            {"organisation_id": user.organisation_id, "target_user_id": user.id, "target": user.email})


def stopped(db: Session, request: RequestFacts, user: User | None, reason: str, flow: str) -> None:
    """The audit entry of a sign-in that stopped for good."""
    who, about = describe(request, user)
    audit.record(db, "sign_in", who, outcome="failure", details={"reason": reason, "flow": flow}, **about)
