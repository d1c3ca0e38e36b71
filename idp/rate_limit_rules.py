"""Limit values ("20/minute", "5/15minutes", "" = off) and the rules that `[rate_limit]` configures."""
from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)?\s*(second|minute|hour|day)s?\s*$")

# rule name -> the [rate_limit] keys of its two scopes: (per client IP, per account or client, if any)
RULES: dict[str, tuple[str, str | None]] = {
    "login": ("login_per_ip", "login_per_account"),
    "second_factor": ("second_factor_per_ip", "second_factor_per_account"),
    "send": ("send_per_ip", "send_per_account"),
    "token": ("token_per_ip", "token_per_client"),
    "introspect": ("introspect_per_ip", "introspect_per_client"),
    # per address only: a client id is public, a per-client limit would let anyone lock a client's users out
    "authorize": ("authorize_per_ip", None),
    "scim": ("scim_per_ip", "scim_per_token"),     # /scim/v2: checked by idp.web.scim, per provisioning token
    "adminapi": ("adminapi_per_ip", "adminapi_per_client"),   # /api/v1: checked by idp.web.adminapi, per client
}
LIMIT_FIELDS = tuple(name for pair in RULES.values() for name in pair if name)


class LimitError(ValueError):
    """A limit that cannot be read; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` requests in each window of `seconds` (fixed windows aligned to the epoch)."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


def parse_limit(text: str) -> Limit | None:
    """"20/minute" -> Limit(20, 60); "5/15minutes" -> Limit(5, 900); "" -> None (no limit)."""
    if not text.strip():
        return None
    match = _PATTERN.match(text.lower())
    if not match:
        raise LimitError(f'expected "N/minute" (units: second, minute, hour, day; e.g. "20/minute", '
                         f'"5/15minutes") or "" for no limit, got {text!r}')
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if count < 1 or multiple < 1:
        raise LimitError(f"the count and the period must be at least 1 (got {text!r})")
    seconds = multiple * UNITS[unit]
    if seconds > 7 * 86400:
        raise LimitError(f"the period can be at most 7 days (got {text!r})")
    return Limit(count, seconds)
