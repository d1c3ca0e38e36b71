"""Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser's signed note
that it signed in to an account here before.

The cookie holds up to MAX_ENTRIES entries `[account digest, nonce, issued at]`, newest last, signed as a
whole with the server secret (itsdangerous, HMAC-SHA256, its own salt): it cannot be forged, nor moved from
one account to another. An entry names its account by a digest only (the cookie shows no address). The
nonce identifies the entry: idp.attempts.counters counts the entry's own failures under it and stops
trusting it after too many. The web layer stores the value (HttpOnly, SameSite=Lax; `__Host-` and Secure
under https); nothing else about it is kept on the server."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

from idp.security.secrets import new_token

COOKIE = "idp_device"
HTTPS_COOKIE = "__Host-idp_device"     # __Host-: Secure, Path=/, no Domain
MAX_ENTRIES = 5                        # accounts remembered per browser (the oldest is dropped)
MAX_LENGTH = 2000                      # a longer value is not even looked at
_SALT = "fentu-idp device cookie v1"


@dataclass(frozen=True)
class DeviceEntry:
    """One account this browser signed in to: `account` is account_digest(...), `nonce` is random."""

    account: str
    nonce: str
    issued_at: int                     # epoch seconds


def cookie_name(https: bool) -> str:
    return HTTPS_COOKIE if https else COOKIE


def account_digest(account: str) -> str:
    """How a cookie names an account (the normalised sign-in identifier)."""
    return hashlib.sha256(b"device-cookie account\x00" + account.encode("utf-8")).hexdigest()


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def read(secret: str, value: str | None) -> list[DeviceEntry]:
    """The entries of a cookie value; [] when it is absent, too long, forged or malformed."""
    if not value or len(value) > MAX_LENGTH:
        return []
    try:
        raw = _serializer(secret).loads(value)
        return [DeviceEntry(str(a), str(n), int(t)) for a, n, t in raw][-MAX_ENTRIES:]
    except (BadSignature, TypeError, ValueError):
        return []


def entry_for(secret: str, value: str | None, account: str, now: datetime, max_age_days: int) -> DeviceEntry | None:
    """The cookie's entry for `account` if it is still young enough, else None."""
    wanted, oldest = account_digest(account), now.timestamp() - max_age_days * 86400
    return next((e for e in read(secret, value) if e.account == wanted and e.issued_at > oldest), None)


def issue(secret: str, value: str | None, account: str, now: datetime, max_age_days: int) -> str:
    """The cookie value after a successful sign-in to `account`: its live entry is kept (its failure count
    was just reset), or a new one is added; the oldest entries beyond MAX_ENTRIES are dropped."""
    oldest = now.timestamp() - max_age_days * 86400
    entries = [e for e in read(secret, value) if e.issued_at > oldest]
    wanted = account_digest(account)
    mine = next((e for e in entries if e.account == wanted), None)
    if mine is None:
        mine = DeviceEntry(wanted, new_token(16), int(now.timestamp()))
    kept = [e for e in entries if e.account != wanted][-(MAX_ENTRIES - 1):] + [mine]
    return _serializer(secret).dumps([[e.account, e.nonce, e.issued_at] for e in kept])
