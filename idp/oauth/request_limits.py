"""Bounds on authorization request parameters (RFC 6749 §3.1, OpenID Connect Core §3.1.2.1).

Every parameter has a maximum length in UTF-8 bytes, close to what common providers and the OpenID
conformance suite use; the request as a whole is bounded too (names and values together), so unknown
parameters (which are otherwise ignored) cannot make a stored sign-in large. A parameter may be sent
once: "Request and response parameters MUST NOT be included more than once" (RFC 6749 §3.1)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

MAX_LENGTHS: dict[str, int] = {
    "client_id": 255,
    "redirect_uri": 2048,
    "response_type": 64,
    "response_mode": 32,
    "scope": 1024,
    "state": 512,
    "nonce": 512,
    "login_hint": 256,
    "prompt": 64,
    "display": 16,
    "max_age": 10,
    "acr_values": 256,
    "ui_locales": 128,
    "claims_locales": 128,
    "claims": 2048,
    "id_token_hint": 8192,
    "code_challenge": 128,
    "code_challenge_method": 16,
    "request": 8192,        # refused later (not supported); bounded like anything else
    "request_uri": 2048,
}
MAX_OTHER_LENGTH = 1024      # any parameter not named above (ignored, but kept with the sign-in)
MAX_PARAMETERS = 50
MAX_REQUEST_BYTES = 16384    # all names and values together

Items = Sequence[tuple[str, str]]


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def limit_of(name: str) -> int:
    return MAX_LENGTHS.get(name, MAX_OTHER_LENGTH)


def repeated(items: Items) -> list[str]:
    """The names sent more than once, sorted."""
    return sorted(name for name, count in Counter(name for name, _ in items).items() if count > 1)


def single_value(items: Items, name: str) -> str | None:
    """The value of `name` when it was sent exactly once and within its limit; None otherwise."""
    values = [value for key, value in items if key == name]
    if len(values) != 1 or _size(values[0]) > limit_of(name):
        return None
    return values[0]


def problem(items: Items) -> str | None:
    """What is wrong with the request's size or shape, as an error_description; None when it is fine."""
    twice = repeated(items)
    if twice:
        return f"Each parameter may be sent only once; repeated: {', '.join(twice)[:200]}."
    if len(items) > MAX_PARAMETERS:
        return f"Too many parameters (at most {MAX_PARAMETERS})."
    for name, value in items:
        if _size(name) > MAX_OTHER_LENGTH:
            return "A parameter name is too long."
        if _size(value) > limit_of(name):
            return f"The parameter {name[:64]} is too long (at most {limit_of(name)} bytes)."
    if sum(_size(name) + _size(value) for name, value in items) > MAX_REQUEST_BYTES:
        return f"The request is too large (at most {MAX_REQUEST_BYTES} bytes of parameters)."
    return None
