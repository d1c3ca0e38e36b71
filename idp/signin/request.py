"""What the sign-in service needs to know about the browser's request, read once by the web layer."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from idp.audit import Actor


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The client's address and user agent, the remembered-browser and device cookie values, the current
    browser session id (if any) and the time of the request."""

    now: datetime
    ip: str | None = None
    user_agent: str | None = None
    remembered_cookie: str | None = None
    session_sid: str | None = None
    device_cookie: str | None = None     # "signed in here before" (idp.attempts.device_cookies), as sent

    def actor(self, name: str) -> Actor:
        return Actor(name=name, ip=self.ip, user_agent=self.user_agent)
