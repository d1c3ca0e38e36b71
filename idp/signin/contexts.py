"""One request's FlowContexts: built from the login transaction, sharing one cache of facts.

The engine asks for a context many times per request (each condition, each alternative, begin, submit,
the position after it). They all share the user object (held here, so the database session's identity map
does not drop it), whether this browser is remembered for that user, and a Memo of answers (is a step
applicable, the user's enforcement status, enrolled second factors) that is renewed whenever the flow's
progress changes, so no answer outlives what it was computed from."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from idp.browser import remembered
from idp.flow.context import FlowContext, Memo
from idp.flow.facts import EnforcementStatus, SubjectFacts
from idp.flow.state import FlowState
from idp.models import LoginTransaction, User
from idp.services import Services

from .request import RequestFacts


class MemoFacts(SubjectFacts):
    """The domain's answers about ctx.user, each asked once per flow generation (kept in ctx.memo)."""

    def __init__(self, facts: SubjectFacts) -> None:
        self._facts = facts

    def _ask(self, ctx: FlowContext, question: str) -> Any:
        user_id = ctx.user.id if ctx.user is not None else None
        return ctx.memo.remember(("fact", question, user_id), lambda: getattr(self._facts, question)(ctx))

    def second_factor_enrolled(self, ctx: FlowContext) -> bool:
        return self._ask(ctx, "second_factor_enrolled")

    def enforcement(self, ctx: FlowContext) -> EnforcementStatus:
        return self._ask(ctx, "enforcement")

    def groups(self, ctx: FlowContext) -> frozenset[str]:
        return self._ask(ctx, "groups")

    def organisation(self, ctx: FlowContext) -> str:
        return self._ask(ctx, "organisation")

    def is_admin(self, ctx: FlowContext) -> bool:
        return self._ask(ctx, "is_admin")


class Contexts:
    """A ContextFactory for the engine: `contexts(state, path)` -> FlowContext for that step."""

    def __init__(self, db: Session, services: Services, tx: LoginTransaction, request: RequestFacts) -> None:
        self.db, self.tx, self.request = db, tx, request
        self.services = dataclasses.replace(services, facts=MemoFacts(services.facts))
        self.memo = Memo()
        self._users: dict[int, User] = {}
        self._remembered: dict[int, bool] = {}

    @property
    def params(self) -> Mapping[str, str]:
        return self.tx.request_params or {}

    def user(self, user_id: int | None) -> User | None:
        if user_id is None:
            return None
        if user_id not in self._users:
            self._users[user_id] = self.db.get(User, user_id)
        return self._users[user_id]

    def remembered(self, user: User) -> bool:
        """A valid "Don't ask again on this browser" for this user (asked once per request)."""
        if user.id not in self._remembered:
            self._remembered[user.id] = remembered.is_remembered(
                self.db, user, self.request.remembered_cookie, self.params, self.services.config.policy.acr_mfa)
        return self._remembered[user.id]

    def __call__(self, state: FlowState, path: str) -> FlowContext:
        self.memo.renew((self.tx.flow, state.user_id, tuple(state.completed), tuple(state.started)))
        user = self.user(state.user_id)
        params = self.params
        return FlowContext(
            db=self.db, config=self.services.config, services=self.services, now=self.request.now, user=user,
            client_id=self.tx.client_id, acr_values=tuple(params.get("acr_values", "").split()),
            provider=self.tx.provider, upstream=dict(self.tx.upstream or {}), amr=tuple(state.amr()),
            ip=self.request.ip, user_agent=self.request.user_agent, transaction_id=self.tx.id,
            device_cookie=self.request.device_cookie, step_state=state.scratch(path), login_hint=params.get("login_hint"),
            browser_remembered=user is not None and self.remembered(user),
            set_up_second_factor=state.set_up_second_factor, memo=self.memo)
