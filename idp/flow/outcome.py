"""The closed set of results a step may report; only the engine decides what happens next."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    """What a step says after `begin` or `submit` (Keycloak's FlowStatus, trimmed)."""

    SUCCESS = "success"      # the step is proven; `amr` lists what it proved
    CHALLENGE = "challenge"  # show the step's page (first time, or again after a resend)
    RETRY = "retry"          # the input was wrong; show the page again with `message`
    ABORT = "abort"          # the sign-in cannot go on (too many tries, locked); show `message`
    EXTERNAL = "external"    # send the browser to `redirect_to` (an upstream provider) and come back


@dataclass(frozen=True, slots=True)
class Outcome:
    """A step's report. `view` feeds the step's template; `user_id` is set by an identifying step.

    Typed facts the engine records in the FlowState (instead of keys in a step's scratch space):
    `after_login` (SUCCESS) is where to send the person after the sign-in (e.g. Profile > Security after a
    recovery code); `upstream` (SUCCESS) is what an upstream provider said (amr, acr, tenant, ...);
    `failure` (ABORT) says why, for the audit log (provider, problem, detail; never a secret);
    `set_up_second_factor` (SUCCESS) the person asked to set up a second factor in this sign-in ("Set it up
    now" on the grace notice; the `set_up_requested` condition reads it)."""

    status: Status
    amr: tuple[str, ...] = ()
    message: str | None = None
    view: dict[str, Any] = field(default_factory=dict)
    user_id: int | None = None
    redirect_to: str | None = None
    counts_as_failure: bool = False
    after_login: str | None = None
    upstream: dict[str, Any] | None = None
    failure: dict[str, str] | None = None
    set_up_second_factor: bool = False

    @classmethod
    def success(cls, *amr: str, user_id: int | None = None, after_login: str | None = None,
                upstream: dict[str, Any] | None = None, set_up_second_factor: bool = False,
                **view: Any) -> "Outcome":
        return cls(Status.SUCCESS, amr=tuple(amr), user_id=user_id, view=view, after_login=after_login,
                   upstream=upstream, set_up_second_factor=set_up_second_factor)

    @classmethod
    def challenge(cls, **view: Any) -> "Outcome":
        return cls(Status.CHALLENGE, view=view)

    @classmethod
    def retry(cls, message: str, *, counts_as_failure: bool = True, **view: Any) -> "Outcome":
        return cls(Status.RETRY, message=message, view=view, counts_as_failure=counts_as_failure)

    @classmethod
    def abort(cls, message: str, *, failure: dict[str, str] | None = None,
              counts_as_failure: bool = False) -> "Outcome":
        """The sign-in stops; `counts_as_failure`: because of a wrong answer (the one that locked a factor)."""
        return cls(Status.ABORT, message=message, failure=failure, counts_as_failure=counts_as_failure)

    @classmethod
    def external(cls, url: str) -> "Outcome":
        return cls(Status.EXTERNAL, redirect_to=url)
