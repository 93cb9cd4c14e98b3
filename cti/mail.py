"""Sending one e-mail over SMTP: the only module that talks to a mail server.

Why it is built this way:

* **stdlib only** (``smtplib`` + ``email``): the protocol is old and stable, and the blocking
  client runs in a worker thread (:func:`asyncio.to_thread`) so a slow server never stalls the
  screen pops. One connection per message keeps failures independent; a call center's mail
  volume (a few per ticket change) does not need pipelining.
* **Headers are built by** :class:`email.message.EmailMessage`, never by pasting strings:
  its policy refuses CR/LF inside a header value, and :func:`build_message` flattens any line
  break in a subject to a space first, so a ticket subject like ``"x\\r\\nBcc: ..."`` stays one
  harmless subject line and cannot add a recipient or a header.
* **Errors say whether to stop**: :class:`MailError` carries ``server_down`` for failures of
  the connection itself (refused, timeout, TLS or login failure), after which the outbox stops
  trying the rest of a batch for now, versus a refusal of one message (``451``, a bad
  recipient) that concerns that message only.
* ``mail.smtp_host`` empty means "queue only": :attr:`SmtpSettings.enabled` is False and
  nothing is ever sent (a test bench, or a site that reads the queue some other way).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from cti.config import Config, ConfigError

SECURITY: tuple[str, ...] = ("none", "starttls", "tls")
TIMEOUT = 30.0  # seconds for connecting and for each SMTP reply


class MailError(Exception):
    """A message was not sent. ``server_down``: the server could not be reached or refused
    the session (every other message would fail the same way just now)."""

    def __init__(self, message: str, *, server_down: bool = False) -> None:
        super().__init__(message)
        self.server_down = server_down


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = ""
    port: int = 25
    user: str = ""
    password: str = ""
    security: str = "none"
    sender: str = "cti@localhost"
    retry_max: int = 10
    timeout: float = TIMEOUT

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_config(cls, config: Config) -> SmtpSettings:
        """The ``mail.*`` settings; a bad value stops start-up with a message naming it."""
        settings = cls(host=str(config.get("mail.smtp_host")).strip(),
                       port=int(config.get("mail.smtp_port")),
                       user=str(config.get("mail.smtp_user")),
                       password=str(config.get("mail.smtp_password")),
                       security=str(config.get("mail.security")).strip().lower(),
                       sender=str(config.get("mail.sender")).strip(),
                       retry_max=int(config.get("mail.retry_max")))
        if settings.security not in SECURITY:
            raise ConfigError(f"setting 'mail.security': one of {', '.join(SECURITY)}, "
                              f"not {settings.security!r}")
        if not 0 < settings.port < 65536:
            raise ConfigError(f"setting 'mail.smtp_port': {settings.port} is not a TCP port")
        if settings.retry_max < 1:
            raise ConfigError("setting 'mail.retry_max' must be at least 1")
        if not settings.sender or "@" not in settings.sender or _has_control(settings.sender):
            raise ConfigError(f"setting 'mail.sender': {settings.sender!r} is not an address")
        return settings


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def one_line(text: str, limit: int = 250) -> str:
    """``text`` as a single header-safe line: every run of whitespace or control characters
    (CR, LF, tab, NUL…) becomes one space."""
    cleaned = "".join(" " if c.isspace() or _has_control(c) else c for c in text)
    return " ".join(cleaned.split())[:limit]


def build_message(sender: str, recipient: str, subject: str, body: str) -> EmailMessage:
    """A plain-text UTF-8 message. Raises :class:`MailError` for an address that cannot be a
    header (control characters): such a row is a bug upstream, reported, never sent."""
    if _has_control(recipient) or _has_control(sender):
        raise MailError(f"refusing an address with control characters: {recipient!r}")
    msg = EmailMessage()
    try:
        msg["From"] = sender
        msg["To"] = recipient
        msg["Subject"] = one_line(subject)
    except (ValueError, IndexError) as exc:  # the policy's own refusals (malformed address)
        raise MailError(f"bad header: {exc}") from exc
    msg["Date"] = formatdate(localtime=True)
    domain = sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: an automatic notification; out-of-office robots must not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps the body 7-bit, so any server accepts it (no 8BITMIME needed).
    msg.set_content(body, cte="quoted-printable")
    return msg


def _send_sync(settings: SmtpSettings, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    try:
        if settings.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port,
                                                  timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"cannot connect to {settings.host}:{settings.port}: {exc}",
                        server_down=True) from exc
    try:
        try:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, settings.password)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP session refused: {exc}", server_down=True) from exc
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPServerDisconnected as exc:
            raise MailError(f"server disconnected: {exc}", server_down=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"message refused: {exc}") from exc
    finally:
        # Not ``with smtp``: a grumpy answer to QUIT after the message was accepted must not
        # turn a sent mail into a failure (and a second copy at the next attempt).
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    if refused:
        raise MailError(f"recipient refused: {refused}")


async def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send ``message`` (to its ``To`` header); raises :class:`MailError` on any failure."""
    if not settings.enabled:
        raise MailError("mail.smtp_host is empty: mail is queued only")
    await asyncio.to_thread(_send_sync, settings, message)


__all__ = ["MailError", "SmtpSettings", "build_message", "one_line", "send"]
