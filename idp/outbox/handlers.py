"""The built-in job kinds: `email`, `sms`, `http_post` (back-channel deliveries); domain modules add theirs.

Every handler gets the decrypted payload and MUST raise DeliveryError (secret-free text) when it failed: the
job is retried with back-off. Importing this module registers every kind the server knows."""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from idp.delivery import DeliveryError

from .registry import handler

if TYPE_CHECKING:
    from idp.services import Services

HTTP_TIMEOUT = 10.0
DOMAIN_HANDLERS = ("idp.account_recovery.jobs", "idp.backchannel.delivery")   # modules that register their own kinds


@handler("email")
def send_email(services: "Services", payload: dict[str, Any]) -> None:
    """{"to", "subject", "body"} through the configured mailer (SMTP, or the development outbox)."""
    services.mailer.send(payload["to"], payload["subject"], payload["body"])


@handler("sms")
def send_sms(services: "Services", payload: dict[str, Any]) -> None:
    """{"to", "message"} through the configured SMS provider."""
    services.sms.send(payload["to"], payload["message"])


@handler("http_post")
def post_form(services: "Services", payload: dict[str, Any]) -> None:
    """{"url", "form", "timeout"?}: a form POST that MUST answer 2xx."""
    send_form(payload["url"], payload.get("form") or {}, float(payload.get("timeout") or HTTP_TIMEOUT))


def send_form(url: str, form: dict[str, str], timeout: float, receiver: str = "the receiver") -> None:
    """POST `form` to `url` (no redirects followed); DeliveryError, in words, unless it answers 2xx."""
    import httpx  # loaded when a form is sent, not by every worker

    try:
        response = httpx.post(url, data=form, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        raise DeliveryError(f"{receiver} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{receiver} could not be reached ({type(exc).__name__})") from None
    if not response.is_success:
        raise DeliveryError(f"{receiver} answered HTTP {response.status_code}")


for _module in DOMAIN_HANDLERS:
    import_module(_module)
