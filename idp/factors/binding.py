"""What ties a one-time challenge (a sent code, a WebAuthn challenge) to the one place it was issued for."""
from __future__ import annotations

from idp.security.secrets import digest

# Where a code may be used: a sign-in (its login transaction), the email check or enrolment inside a sign-in,
# and, in Profile > Security, a fresh proof, an enrolment or the first-set-up email check (the browser session).
SIGN_IN, SIGN_IN_CHECK, SIGN_IN_ENROL = "signin", "signin-check", "signin-enrol"
PROOF, PROFILE_CHECK, PROFILE_ENROL = "proof", "check", "enrol"


def binding(kind: str, value: object) -> str:
    """A digest of `kind:value` (a login transaction id, or a browser session id — a secret, hence the digest)."""
    return digest(f"{kind}:{value}")
