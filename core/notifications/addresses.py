"""Mail addresses: double opt-in on the first comment that gives one, confirm and unsubscribe by token, bounces.

The confirm token is random, shown only in its mail (the confirmation row's payload carries it to the sender)
and stored as its SHA-256 hash. The unsubscribe token goes into every mail to the address, so it is derived:
an HMAC of the address under SECRET_KEY, unguessable without it, and also stored only as its hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.config import Settings
from core.notifications import outbox
from core.storage.models import Comment, utcnow
from core.storage.models_notifications import MailAddress, OutboxKind

logger = logging.getLogger(__name__)
CONFIRM_EVENT = "mail.confirm"
#: Longest token a link may carry (ours are 43 characters); anything longer is not looked up.
MAX_TOKEN = 100


def normalize(address: str) -> str:
    """Return the form an address is stored and compared in (trimmed, lowercased)."""
    return address.strip().lower()


def token_hash(token: str) -> str:
    """Return the stored SHA-256 hash of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def unsubscribe_token(settings: Settings, address: str) -> str:
    """Return the unsubscribe token of *address* (HMAC-SHA256 under SECRET_KEY, URL-safe)."""
    digest = hmac.new(settings.secret_key.encode(), f"unsubscribe:{normalize(address)}".encode(), "sha256").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def unsubscribe_url(settings: Settings, address: str) -> str:
    """Return the absolute one-click unsubscribe link of *address*."""
    return f"{settings.public_base_url}/notifications/unsubscribe?token={unsubscribe_token(settings, address)}"


def confirm_url(settings: Settings, token: str) -> str:
    """Return the absolute confirm link for *token*."""
    return f"{settings.public_base_url}/notifications/confirm?token={token}"


def find(session: Session, address: str) -> MailAddress | None:
    """Return the row of *address*, if any."""
    return session.scalar(select(MailAddress).where(MailAddress.address == normalize(address)))


def deliverable(row: MailAddress | None) -> bool:
    """Tell whether mail other than the confirmation may go to *row*: confirmed, not unsubscribed, not bounced."""
    return bool(row and row.confirmed_at and not row.unsubscribed_at and not row.bounced_at)


def on_posted(session: Session, comment: Comment, settings: Settings, now: datetime | None = None) -> bool:
    """In the POST's transaction: a new address gets its row and one confirmation mail; True if one was written.

    An address already known (confirmed, waiting, unsubscribed or bounced) gets nothing: one confirmation ever.
    """
    if not comment.email or comment.honeypot or not settings.mail_enabled:
        return False
    address, now = normalize(comment.email), now or utcnow()
    if find(session, address) is not None:
        return False
    token = secrets.token_urlsafe(32)
    try:
        with session.begin_nested():
            session.add(MailAddress(address=address, lang=comment.lang, confirm_token_hash=token_hash(token),
                                    unsubscribe_token_hash=token_hash(unsubscribe_token(settings, address)),
                                    created_at=now))
    except IntegrityError:
        return False  # a concurrent first post of the same address wrote it (and its confirmation)
    outbox.record(session, kind=OutboxKind.MAIL, event=CONFIRM_EVENT, comment_id=comment.id, recipient=address,
                  payload={"template": "confirm", "token": token, "lang": comment.lang})
    return True


def ensure_confirmed(session: Session, address: str, settings: Settings) -> MailAddress:
    """Return the row of an address an admin gave (a moderator's), confirmed without a mail; not re-subscribed."""
    row = find(session, address)
    if row is None:
        row = MailAddress(address=normalize(address), confirmed_at=utcnow(),
                          unsubscribe_token_hash=token_hash(unsubscribe_token(settings, address)))
        session.add(row)
        session.flush()
    elif row.confirmed_at is None:
        row.confirmed_at, row.confirm_token_hash = utcnow(), None
    return row


def _by_token(session: Session, column: str, token: str | None) -> MailAddress | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    return session.scalar(select(MailAddress).where(getattr(MailAddress, column) == token_hash(token)))


def confirm(session: Session, token: str | None) -> MailAddress | None:
    """Confirm the address of a confirm *token*; None when the token is unknown or used already."""
    row = _by_token(session, "confirm_token_hash", token)
    if row is None:
        return None
    row.confirmed_at, row.confirm_token_hash = row.confirmed_at or utcnow(), None
    session.flush()
    return row


def by_unsubscribe_token(session: Session, token: str | None) -> MailAddress | None:
    """Return the address an unsubscribe *token* belongs to, if any."""
    return _by_token(session, "unsubscribe_token_hash", token)


def unsubscribe(session: Session, token: str | None) -> MailAddress | None:
    """Stop all mail to the address of an unsubscribe *token* (idempotent); None when the token is unknown."""
    row = by_unsubscribe_token(session, token)
    if row is not None and row.unsubscribed_at is None:
        row.unsubscribed_at = utcnow()
        session.flush()
    return row


def mark_bounced(session: Session, address: str, reason: str) -> None:
    """Stop all further mail to *address* after a permanent failure or a bounce."""
    session.execute(update(MailAddress)
                    .where(MailAddress.address == normalize(address), MailAddress.bounced_at.is_(None))
                    .values(bounced_at=utcnow()).execution_options(synchronize_session=False))
    logger.warning("Mail to an address bounced for good: %s", reason[:200])
