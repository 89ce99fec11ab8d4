"""E-mail through the SMTP server of ``AUDIENCE_SMTP_URL`` (``smtp://host:port``).

Plain text, no authentication, no TLS: the server is expected to be a local
relay. aiosmtplib is imported on first use.
"""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import urlsplit

from plugin.core.errors import AudienceError

__all__ = ["MailNotSent", "SENDER", "send_mail"]

SENDER = "audience@localhost"
_TIMEOUT_S = 30


class MailNotSent(AudienceError):
    """No SMTP server is configured, or it could not take the message."""

    code = "mail_not_sent"


async def send_mail(smtp_url: str | None, to: str, subject: str, text: str) -> None:
    """Send ``text`` to ``to``.

    Raises:
        MailNotSent: no ``smtp_url``, or the server refused or could not be reached.
    """
    if not smtp_url:
        raise MailNotSent("no SMTP server is configured (AUDIENCE_SMTP_URL)")
    import aiosmtplib

    message = EmailMessage()
    message["From"], message["To"] = SENDER, to
    message["Subject"] = subject
    message.set_content(text)
    parts = urlsplit(smtp_url)
    try:
        await aiosmtplib.send(message, hostname=parts.hostname or "localhost",
                              port=parts.port or 25, timeout=_TIMEOUT_S)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailNotSent(f"{type(exc).__name__}: {exc}"[:300]) from exc
