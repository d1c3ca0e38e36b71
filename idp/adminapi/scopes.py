"""The administration API's OAuth scopes (RFC 6749 §3.3) and the console permission each one needs."""
from __future__ import annotations

from collections.abc import Iterable

from idp.administration.permissions import AUDIT_READ, SECURITY_SETTINGS, USER_MANAGEMENT

USERS_READ = "idp:users:read"
USERS_WRITE = "idp:users:write"
TWO_FACTOR_RESET = "idp:2fa:reset"
SETTINGS_WRITE = "idp:settings:write"
AUDIT = "idp:audit:read"

# scope -> (what it allows, in the console's and the OpenAPI description's words; the permission it stands for)
SCOPES: dict[str, tuple[str, str]] = {
    USERS_READ: ("List and read users with their two-factor state", USER_MANAGEMENT),
    USERS_WRITE: ("Invite users, disable and enable them, unlock them", USER_MANAGEMENT),
    TWO_FACTOR_RESET: ("Reset a user's two-factor authentication (with a reason)", USER_MANAGEMENT),
    SETTINGS_WRITE: ("Read and change the organisation's security settings", SECURITY_SETTINGS),
    AUDIT: ("Read the organisation's audit log", AUDIT_READ),
}
NAMES = tuple(SCOPES)


class ScopeError(ValueError):
    """Scope names that cannot be used; the message says which and what is known."""


def describe(scope: str) -> str:
    return SCOPES[scope][0]


def permission_for(scope: str) -> str:
    """The administrator permission (idp.administration.permissions) that `scope` stands for."""
    return SCOPES[scope][1]


def permissions_for(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(SCOPES[s][1] for s in scopes if s in SCOPES)


def checked(values: Iterable[str]) -> tuple[str, ...]:
    """Known scope names, in NAMES order, without repeats; ScopeError naming the first unknown one."""
    items = [v.strip() for v in values if v and v.strip()]
    unknown = [v for v in items if v not in SCOPES]
    if unknown:
        raise ScopeError(f"unknown administration API scope {unknown[0]!r} (known: {', '.join(NAMES)})")
    return tuple(s for s in NAMES if s in items)


def requested_problem(requested: list[str], granted: frozenset[str]) -> str | None:
    """Why a token request for `requested` must be refused (RFC 6749 §5.2 invalid_scope), or None."""
    if not requested:
        return (f"Ask for the scopes you need, for example scope={' '.join(sorted(granted)) or USERS_READ} "
                "(this client may ask for: " + (", ".join(sorted(granted)) or "nothing") + ").")
    refused = [s for s in requested if s not in granted]
    if refused:
        return (f"The scope {refused[0]!r} is not granted to this client (it may ask for: "
                f"{', '.join(sorted(granted)) or 'nothing'}). An administrator grants scopes on the "
                "client's page in Administration > Clients.")
    return None
