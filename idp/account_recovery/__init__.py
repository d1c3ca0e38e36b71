"""Self-service account recovery and upkeep (no Flask): "Forgot password?" links, password changes, email
address verification and changes, the list of the person's signed-in browsers.

Nothing here signs anyone in: a password reset ends every session and refresh token of the account, and the
person then signs in through the normal flow, second factor included."""
from __future__ import annotations


class RecoveryError(ValueError):
    """A refused request, with a message for the person; nothing was changed."""
