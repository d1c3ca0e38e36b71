"""The Profile > Security sections added next to two-factor authentication: security keys and passkeys,
password and email address, signed-in and remembered browsers (each module gives what its section shows)."""
from __future__ import annotations

from idp.models import User

from . import browsers, keys, password


def security_sections(person: User) -> dict:
    return {**keys.section(person), **password.section(person), **browsers.section(person)}
