"""Setting up a first second factor inside a sign-in, as each factor type's `enrol_*` methods see it.

The `enrol_second_factor` step owns the stages every set-up shares (confirm the account's email, choose a
method, save the recovery codes); each factor type owns its own stages (scan a QR code, type a phone
number, confirm a code) through `enrol_begin`, `enrol_submit` and `enrol_view`, given an `Enrolment`."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from idp.factors import binding
from idp.factors import step_outcomes as sf
from idp.factors.side_channel import check as check_sent_code
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.models import SecondFactor

GONE = "This set-up is no longer current (perhaps it was started again elsewhere). Choose a method again."
CHOOSE = "choose"


class Enrolment:
    """One set-up in progress: its scratch state (ids and flags only), and what a factor type may do with it."""

    def __init__(self, ctx: FlowContext, on_verified: Callable[[SecondFactor], Outcome]) -> None:
        self.ctx = ctx
        self._on_verified = on_verified

    @property
    def state(self) -> dict[str, Any]:
        return self.ctx.step_state

    def stage(self, name: str, **values: Any) -> Outcome:
        """Show stage `name` next (its values kept in the state)."""
        self.state.update(stage=name, **values)
        return Outcome.challenge()

    def pending(self, key: str = "factor") -> SecondFactor | None:
        """The person's pending (unconfirmed) factor this set-up made, or None if it went."""
        factor_id = self.state.get(key)
        return None if factor_id is None else self.ctx.db.scalar(sa.select(SecondFactor).where(
            SecondFactor.id == factor_id, SecondFactor.user_id == self.ctx.user.id,
            SecondFactor.confirmed_at.is_(None)))

    def verified(self, factor: SecondFactor) -> Outcome:
        """The new factor works: the shared stages take over (recovery codes, then activation)."""
        self.state.pop("challenge", None)
        return self._on_verified(factor)

    def restart(self) -> Outcome:
        """The set-up went stale (replaced elsewhere): choose a method again."""
        self.stage(CHOOSE)
        return Outcome.retry(GONE, counts_as_failure=False)

    def bound_to(self) -> str:
        """A set-up code answers this sign-in's set-up only."""
        return binding.binding(binding.SIGN_IN_ENROL, self.ctx.transaction_id)

    def check_sent_code(self, form: Mapping[str, str], method: str) -> Outcome | None:
        """None when the code sent for this set-up is right; otherwise RETRY or ABORT (the code-checking service)."""
        return sf.verified(self.ctx, method, lambda: check_sent_code(
            self.ctx, self.state.get("challenge"), form.get("code") or "", self.bound_to()))
