"""Outgoing mail over SMTP (the `smtp_*` settings): what the platform sends by email, today the
new password of a reset.

The standard library's `smtplib` runs in a worker thread, so a slow mail server never holds up
the event loop; STARTTLS (on by default) upgrades the connection before credentials or the
message are sent, and a server that cannot upgrade is refused rather than written to in clear.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from gameserver.settings import Settings


class MailError(Exception):
    """The mail could not be handed to the SMTP server (or none is configured)."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = True
    timeout_s: float = 20.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_user,
                   settings.smtp_password, settings.smtp_starttls, settings.smtp_timeout_s)

    @property
    def configured(self) -> bool:
        return bool(self.host)


def build_message(config: SmtpConfig, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


def _send(config: SmtpConfig, message: EmailMessage) -> None:
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
            smtp.ehlo()
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(f"SMTP {config.host}:{config.port}: {error}") from error


async def send_mail(config: SmtpConfig, to: str, subject: str, body: str) -> None:
    if not config.configured:
        raise MailError("no SMTP server is configured (LIVEQUIZ_SMTP_HOST)")
    await asyncio.to_thread(_send, config, build_message(config, to, subject, body))
