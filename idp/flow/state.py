"""The progress of one sign-in through a flow, stored as JSON in its login transaction."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of JSON-shaped data (the C encoder and decoder: faster than copy.deepcopy or asdict)."""
    return json.loads(json.dumps(data))


@dataclass
class FlowState:
    """Completed steps with the `amr` each proved, chosen alternatives, and each step's scratch space.

    `prior_amr` is what an existing session already proved (step-up): a step whose own `amr` it
    covers counts as done. Empty for a fresh sign-in, `prompt=login` or an expired `max_age`.

    Typed results of the steps (recorded by the engine and the sign-in service, read by the web layer):
    `after_login` where to go after signing in, `remember_browser` "Don't ask again on this browser" was
    ticked on a page that succeeded, `upstream` what an upstream provider said, `failure` why a step
    stopped the sign-in (for the audit log), `set_up_second_factor` the person chose to set up a second
    factor in this sign-in ("Set it up now")."""

    completed: dict[str, list[str]] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    step_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    prior_amr: list[str] = field(default_factory=list)
    user_id: int | None = None
    failures: int = 0
    after_login: str | None = None
    remember_browser: bool = False
    upstream: dict[str, Any] = field(default_factory=dict)
    failure: dict[str, str] = field(default_factory=dict)
    set_up_second_factor: bool = False

    def to_json(self) -> dict[str, Any]:
        return _copy(vars(self))

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "FlowState":
        # A deep copy: changing the state in place must not change the loaded column value too, or the
        # database layer sees "no change" and a step's scratch space is silently not saved.
        return cls(**_copy(data or {}))

    def restart(self) -> None:
        """Forget the progress through the flow (another flow takes over); who is known stays."""
        self.completed, self.chosen, self.started = {}, {}, []

    def scratch(self, path: str) -> dict[str, Any]:
        return self.step_state.setdefault(path, {})

    def amr(self) -> list[str]:
        """Everything proved so far, in order, without repeats; "mfa" once two steps proved something."""
        values: list[str] = []
        for proved in self.completed.values():
            values.extend(v for v in proved if v not in values)
        proving = sum(1 for proved in self.completed.values() if proved)
        if proving >= 2 and "mfa" not in values:
            values.append("mfa")
        return values
