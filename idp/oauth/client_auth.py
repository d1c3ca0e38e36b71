"""Client authentication requests must be unambiguous (RFC 6749 §2.3, RFC 7523 §2.2).

"The client MUST NOT use more than one authentication method in each request" (RFC 6749 §2.3): an HTTP
Basic header, a `client_secret` in the body and a `client_assertion` are three methods; two of them at
once are refused. A client assertion is bounded before anything parses it (RFC 7523 assertions are a
few hundred bytes; a huge or deeply nested one is an attack on the JSON parser)."""
from __future__ import annotations

from collections.abc import Collection

MAX_ASSERTION_BYTES = 8192


def methods_used(form_names: Collection[str], authorization_header: str) -> list[str]:
    """The client authentication methods a request uses, by what it carries."""
    used = []
    if authorization_header.partition(" ")[0].lower() == "basic":
        used.append("client_secret_basic")
    if "client_secret" in form_names:
        used.append("client_secret_post")
    if "client_assertion" in form_names or "client_assertion_type" in form_names:
        used.append("private_key_jwt")
    return used


def methods_problem(form_names: Collection[str], authorization_header: str) -> str | None:
    """An error_description when the request uses more than one method; None otherwise."""
    used = methods_used(form_names, authorization_header)
    if len(used) > 1:
        return f"Use one client authentication method per request, not {' and '.join(used)}."
    return None


def assertion_problem(assertion: str | None) -> str | None:
    """An error_description (invalid_client) when a client assertion is too large to be read."""
    if assertion and len(assertion.encode("utf-8", "surrogatepass")) > MAX_ASSERTION_BYTES:
        return f"The client assertion is too large (at most {MAX_ASSERTION_BYTES} bytes)."
    return None
