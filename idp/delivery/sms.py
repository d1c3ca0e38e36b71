"""Text messages: a JSON webhook, Twilio's REST API, the development console or outbox, or none (httpx, timeouts)."""
from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from idp.config import AppConfig, SmsConfig

from . import DeliveryError
from .dev_outbox import DevOutbox

log = logging.getLogger(__name__)


@runtime_checkable
class SmsSender(Protocol):
    """Sends one text message; MUST raise DeliveryError when the gateway does not take it."""

    enabled: bool

    def send(self, to: str, message: str) -> None: ...


def _post(url: str, what: str, **kwargs: object) -> None:
    """POST to a gateway; any transport problem or non-2xx answer becomes DeliveryError (no body logged)."""
    import httpx  # loaded by the workers that send a text, not by every worker

    try:
        response = httpx.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException:
        raise DeliveryError(f"the {what} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"the {what} could not be reached ({type(exc).__name__})") from None
    if not response.is_success:
        raise DeliveryError(f"the {what} answered HTTP {response.status_code}")


class WebhookSms:
    """POST {"to": "+44...", "message": "..."} as JSON with `Authorization: Bearer <token>`."""

    enabled = True

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, to: str, message: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        _post(self.url, "SMS gateway", json={"to": to, "message": message}, headers=headers, timeout=self.timeout)


class TwilioSms:
    """Twilio's Messages resource: POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form To/From/Body."""

    enabled = True

    def __init__(self, account_sid: str, auth_token: str, sender: str, base_url: str, timeout: float) -> None:
        self.account_sid, self.auth_token, self.sender = account_sid, auth_token, sender
        self.base_url, self.timeout = base_url.rstrip("/"), timeout

    def send(self, to: str, message: str) -> None:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        _post(url, "Twilio API", data={"To": to, "From": self.sender, "Body": message},
              auth=(self.account_sid, self.auth_token), timeout=self.timeout)


class ConsoleSms:
    """Development only (the config refuses it otherwise): the one place a code may appear in a log."""

    enabled = True

    def send(self, to: str, message: str) -> None:
        log.warning("DEVELOPMENT SMS (not sent) to %s: %s", to, message)


class OutboxSms:
    """Development only (the config refuses it otherwise): text messages go to the /dev/outbox page."""

    enabled = True

    def __init__(self, outbox: DevOutbox) -> None:
        self.outbox = outbox

    def send(self, to: str, message: str) -> None:
        self.outbox.add("sms", to, "", message)


class NoSms:
    """No SMS provider configured: SMS codes are not offered."""

    enabled = False

    def send(self, to: str, message: str) -> None:
        raise DeliveryError("SMS is not configured on this server")


def build_sms(config: AppConfig) -> SmsSender:
    """The sender for `[sms] provider`; `console` only with development = true (also checked at load)."""
    sms: SmsConfig = config.sms
    if sms.provider == "webhook":
        return WebhookSms(sms.webhook_url, sms.webhook_token, sms.timeout_seconds)
    if sms.provider == "twilio":
        return TwilioSms(sms.twilio_account_sid, sms.twilio_auth_token, sms.twilio_from, sms.twilio_base_url,
                         sms.timeout_seconds)
    if sms.provider in ("console", "outbox"):
        if not config.development:
            raise ValueError(f"sms.provider = {sms.provider!r} is refused unless development = true")
        return ConsoleSms() if sms.provider == "console" else OutboxSms(DevOutbox(config.instance_dir))
    return NoSms()
