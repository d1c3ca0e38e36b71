"""Email over real SMTP (smtplib): plain, STARTTLS or implicit TLS, with login and a timeout."""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from idp.config import AppConfig, EmailConfig

from . import DeliveryError
from .dev_outbox import DevOutbox

log = logging.getLogger(__name__)


class MailerDisabled(DeliveryError):
    """Email is switched off in the configuration (`[email] enabled = false`)."""


class Mailer:
    """Sends one plain-text message per call; a new connection each time (no state between workers)."""

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def send(self, to: str, subject: str, body: str) -> None:
        """MUST hand the message to the SMTP server or raise DeliveryError (MailerDisabled when off)."""
        if not self.enabled:
            raise MailerDisabled("email is not enabled on this server")
        message = self._message(to, subject, body)
        try:
            with self._connect() as smtp:
                if self.config.username:
                    smtp.login(self.config.username, self.config.password)
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("email to %s not sent: %s", _domain(to), type(exc).__name__)
            raise DeliveryError(f"the mail server did not accept the message ({type(exc).__name__})") from None
        if refused:
            raise DeliveryError("the mail server refused the recipient")

    def _message(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        try:
            message["From"] = self.config.from_address
            message["To"] = to
            message["Subject"] = subject
        except ValueError:
            raise DeliveryError("the address or subject is not valid in an email header") from None
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=_domain(parseaddr(self.config.from_address)[1]) or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        return message

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.security == "tls":
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_seconds, context=ssl.create_default_context())
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds)
        if c.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp


class OutboxMailer(Mailer):
    """`[email] provider = "outbox"` (development only): messages go to the /dev/outbox page, not to SMTP."""

    def __init__(self, config: EmailConfig, outbox: DevOutbox) -> None:
        super().__init__(config)
        self.outbox = outbox

    def send(self, to: str, subject: str, body: str) -> None:
        if not self.enabled:
            raise MailerDisabled("email is not enabled on this server")
        self._message(to, subject, body)            # the same header checks as a real message
        self.outbox.add("email", to, subject, body)


def build_mailer(config: AppConfig) -> Mailer:
    """The mailer for `[email] provider`; `outbox` only with development = true (also checked at load)."""
    if config.email.provider == "outbox":
        if not config.development:
            raise ValueError("email.provider = 'outbox' is refused unless development = true")
        return OutboxMailer(config.email, DevOutbox(config.instance_dir))
    return Mailer(config.email)


def _domain(address: str) -> str:
    return address.rpartition("@")[2]
