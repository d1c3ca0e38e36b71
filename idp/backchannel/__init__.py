"""OpenID Connect Back-Channel Logout 1.0: tell applications, server to server, that a session ended."""
from __future__ import annotations

from .notify import session_ended

__all__ = ["session_ended"]
