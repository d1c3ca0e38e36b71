"""Why a federated sign-in stopped: words for the person, a short code and details for the audit log."""
from __future__ import annotations


class FederationError(Exception):
    """The sign-in through an upstream provider cannot go on. `message` is shown to the person;
    `problem` (a short code such as "wrong_issuer") and `detail` go to the audit log, never a secret."""

    def __init__(self, message: str, problem: str, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail or message}")
        self.message = message
        self.problem = problem
        self.detail = detail


class UpstreamUnavailable(FederationError):
    """The provider did not answer (connection refused, timeout) or answered with a server error."""


class UnknownProvider(LookupError):
    """No provider of that name is configured (or it was removed); conditions fail closed on it."""
