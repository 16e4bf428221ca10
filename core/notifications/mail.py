"""Mail through SMTP_URL with the standard library: compose both parts escaped, send, classify the failures.

A 4xx reply, a timeout, a refused or dropped connection is a TransientMailError (the actor retries it with
backoff); a 5xx reply to the recipient or to the message is a PermanentMailError carrying the server's reason
(the row is recorded failed and the address marked bounced).
"""

from __future__ import annotations

import functools
import html
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from urllib.parse import unquote, urlsplit

from core.config import Settings
from core.storage.models import utcnow

logger = logging.getLogger(__name__)
PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class TransientMailError(Exception):
    """The mail could not be sent now (4xx, timeout, connection refused or lost): try again later."""


class PermanentMailError(Exception):
    """The server refused the mail for good (5xx); ``reason`` is its answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to send: parsed from SMTP_URL."""

    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None


def parse_url(url: str) -> SmtpTarget:
    """Parse ``smtp://``, ``smtp+starttls://`` or ``smtps://[user:pass@]host[:port]``."""
    parts = urlsplit(url)
    if parts.scheme not in PORTS or not parts.hostname:
        raise ValueError("SMTP_URL must be smtp://, smtp+starttls:// or smtps:// with a host")
    return SmtpTarget(parts.scheme, parts.hostname, parts.port or PORTS[parts.scheme],
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)


@dataclass
class Mail:
    """A mail to compose: plain lines, at most one quoted user text per quote, links with labels."""

    to: str
    subject: str
    lang: str
    message_id: str
    unsubscribe_url: str | None = None
    #: ("p", text) a paragraph, ("quote", text) user text, ("link", label, url) a link.
    blocks: list[tuple[str, ...]] = field(default_factory=list)


def _single_line(value: str) -> str:
    return " ".join(value.split())


def _plain(mail: Mail) -> str:
    lines: list[str] = []
    for kind, *rest in mail.blocks:
        if kind == "quote":
            lines.append("\n".join("> " + line for line in rest[0].splitlines() or [""]))
        elif kind == "link":
            lines.append(f"{rest[0]}:\n{rest[1]}")
        else:
            lines.append(rest[0])
    return "\n\n".join(lines) + "\n"


def _html(mail: Mail) -> str:
    parts = [f'<!doctype html>\n<html lang="{html.escape(mail.lang)}"><head><meta charset="utf-8">'
             f"<title>{html.escape(mail.subject)}</title></head><body>"]
    for kind, *rest in mail.blocks:
        if kind == "quote":
            lines = "<br>\n".join(html.escape(line) for line in rest[0].splitlines())
            parts.append(f'<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:1em">{lines}'
                         "</blockquote>")
        elif kind == "link":
            parts.append(f'<p><a href="{html.escape(rest[1])}">{html.escape(rest[0])}</a></p>')
        else:
            parts.append(f"<p>{html.escape(rest[0])}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def message_id_header(message_id: str, settings: Settings) -> str:
    """Return the Message-ID header of outbox id *message_id*: ``<message_id@host of PUBLIC_BASE_URL>``."""
    host = urlsplit(settings.public_base_url).hostname or "parley.invalid"
    return f"<{message_id.strip('<>')}@{host}>"


def compose(mail: Mail, settings: Settings) -> EmailMessage:
    """Build the message: headers (Message-ID, RFC 8058 List-Unsubscribe), a text part and an escaped HTML part."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr(("", mail.to))
    message["Subject"] = _single_line(mail.subject)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id_header(mail.message_id, settings)
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = mail.lang
    if mail.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(_plain(mail))
    message.add_alternative(_html(mail), subtype="html")
    return message


def _reason(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {_single_line(body)}"[:500]


@functools.cache
def _tls() -> ssl.SSLContext:
    """Return this process's client TLS context (certificates and host names checked): made once, because
    loading the CA store costs tens of milliseconds of CPU, more than the rest of a send."""
    return ssl.create_default_context()


def _open(target: SmtpTarget, timeout: float) -> smtplib.SMTP:
    if target.scheme == "smtps":
        return smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=_tls())
    client = smtplib.SMTP(target.host, target.port, timeout=timeout)
    if target.scheme == "smtp+starttls":
        client.starttls(context=_tls())
    return client


def send(message: EmailMessage, settings: Settings) -> None:
    """Send *message* through SMTP_URL within SMTP_TIMEOUT_SECONDS per operation; raise a classified error."""
    target = parse_url(settings.smtp_url)
    try:
        client = _open(target, settings.smtp_timeout_seconds)
        try:
            if target.user:
                client.login(target.user, target.password or "")
            client.send_message(message)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _classified(code, text) from exc
    except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
        raise _classified(exc.smtp_code, exc.smtp_error, permanent_ok=isinstance(exc, smtplib.SMTPDataError)) from exc
    except smtplib.SMTPResponseException as exc:
        # Greeting, HELO, AUTH, STARTTLS: Parley's own set-up, not the recipient; retried until fixed.
        raise TransientMailError(_reason(exc.smtp_code, exc.smtp_error)) from exc
    except (smtplib.SMTPException, OSError) as exc:  # timeouts, refused or dropped connections, TLS
        raise TransientMailError(f"{type(exc).__name__}: {exc}"[:500]) from exc


def _classified(code: int, text: bytes | str, permanent_ok: bool = True) -> Exception:
    reason = _reason(code, text)
    if 500 <= code < 600 and permanent_ok:
        return PermanentMailError(reason)
    return TransientMailError(reason)
