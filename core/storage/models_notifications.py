"""Tables of notifications: the outbox, webhook endpoints, mail addresses (double opt-in, unsubscribe)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.db import Base
from core.storage.models import utcnow


class OutboxStatus:
    """Outbox row statuses: ``pending`` until sent, ``sent`` once delivered, ``failed`` for good."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    ALL = (PENDING, SENT, FAILED)


class OutboxKind:
    """What an outbox row sends."""

    MAIL = "mail"
    WEBHOOK = "webhook"


class Outbox(Base):
    """One notification to send, written in the transaction of the change that causes it.

    ``message_id`` is drawn once when the row is written and never changes: it is the webhook's
    ``X-Parley-Delivery`` and the mail's ``Message-ID`` (``<message_id@host>``), so a resend after a
    crash is recognisable. ``locked_until`` is the lease of the worker sending it (``claim``).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(40))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"), index=True)
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
                                                    index=True)
    recipient: Mapped[str | None] = mapped_column(String(254))
    payload: Mapped[dict] = mapped_column(JSON)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)


class WebhookEndpoint(Base):
    """A URL that receives signed event deliveries.

    ``secret`` is a shared signing secret, not a password: Parley must read it back to compute each
    delivery's HMAC, so it is stored as given (it is shown once when the endpoint is added).
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MailAddress(Base):
    """An address given by a comment's author: confirmed (double opt-in), unsubscribed or bounced.

    Tokens are kept only as SHA-256 hashes; ``lang`` is the language mails to it are written in.
    """

    __tablename__ = "mail_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)
    lang: Mapped[str | None] = mapped_column(String(16))
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    unsubscribe_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    bounced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
