"""Tables: comments, their translations, audit events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.storage.db import Base

#: The largest id any database can hold (SQLite INTEGER, PostgreSQL BIGINT); anything larger is unknown.
MAX_ID = 2**63 - 1


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Status:
    """Comment statuses."""

    PENDING = "pending"
    PUBLISHED = "published"
    FLAGGED = "flagged"
    REJECTED = "rejected"
    #: Erased by its author: shown as a placeholder while it has visible replies, else hidden.
    DELETED = "deleted"
    ALL = (PENDING, PUBLISHED, FLAGGED, REJECTED, DELETED)


class TranslationStatus:
    """Translation statuses."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    FINAL = (DONE, FAILED, SKIPPED)


class Action:
    """Moderator decisions."""

    APPROVE = "approve"
    REJECT = "reject"
    ALL = (APPROVE, REJECT)


class Comment(Base):
    """A posted comment and the results of its checks; each step writes only its own columns."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread: Mapped[str] = mapped_column(String(200))
    # Both erased to "" when the author deletes the comment (with the email); views show null then.
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING)
    # Replies: the parent is in the same thread; depth 0 is a top-level comment.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"), index=True)
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The author's side: a token shown once (only its SHA-256 kept), edits bump version.
    author_token_hash: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    notify_replies: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The widget's hidden field was filled: recorded, held as flagged, never shown.
    honeypot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Written by check_profanity.
    censored_body: Mapped[str | None] = mapped_column(Text)
    matched_words: Mapped[list | None] = mapped_column(JSON)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    check_error: Mapped[str | None] = mapped_column(Text)
    # Written by the web process after the message was confirmed by the broker.
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatch_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Written by the scheduler's re-dispatch job.
    redispatches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    redispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written by a moderator, once; nothing automated touches a comment with a decision.
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    flagged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The second stage (core/signals): written at intake (fingerprint, client_hash) and by the check/classifier.
    lang_detected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # of the normalised body: the same text again
    client_hash: Mapped[str | None] = mapped_column(String(64))  # HMAC of the client address: bursts, bans
    signals: Mapped[dict | None] = mapped_column(JSON)  # name -> value, for moderators
    flag_reasons: Mapped[list | None] = mapped_column(JSON)  # why it was held, e.g. ["links", "model"]
    #: Held by a signal other than the word list: never shown, whatever the moderation policy.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    model_score: Mapped[float | None] = mapped_column(Float)
    classified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    classify_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The check sent this version to the model: under after_publish the one mark of a published comment awaiting it.
    awaits_model: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    translations: Mapped[list[Translation]] = relationship(
        back_populates="comment", cascade="all, delete-orphan", passive_deletes=True, order_by="Translation.lang"
    )

    __table_args__ = (
        Index("ix_comments_thread_id", "thread", "id"),
        Index("ix_comments_status_id", "status", "id"),
        Index("ix_comments_created_at", "created_at"),
        Index("ix_comments_fingerprint_created", "fingerprint", "created_at"),
        Index("ix_comments_client_created", "client_hash", "created_at"),
        Index("ix_comments_email_created", "email", "created_at"),
    )


class Translation(Base):
    """One translation of a comment into one target language."""

    __tablename__ = "translations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(16))
    #: The comment version this translation belongs to; results for an older version are discarded.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[str] = mapped_column(String(16), default=TranslationStatus.PENDING)
    text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    matched_words: Mapped[list | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    redispatches: Mapped[int] = mapped_column(Integer, default=0)
    redispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    comment: Mapped[Comment] = relationship(back_populates="translations")

    __table_args__ = (
        UniqueConstraint("comment_id", "lang", name="uq_translations_comment_lang"),
        Index("ix_translations_status", "status"),
    )


class AuditEvent(Base):
    """A moderator decision or a system event; survives the purge of its comment (text dropped)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key: the event outlives the comment it describes.
    comment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "decision" | "system"
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSON)
    #: Natural key that makes an event idempotent (e.g. "decision:42"); NULL when repeats are fine.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class RateLimit(Base):
    """Fixed-window request counters shared by every web process."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class LoginFailure(Base):
    """Recent failed logins of one (account, client address) pair or of one address: the backoff's state."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[float] = mapped_column(Float)  # time.time() of the latest failure


class WordEntry(Base):
    """A moderator's banned word (added to the list) or allowed word (a false-positive fix)."""

    __tablename__ = "word_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    word: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # "banned" | "allowed"
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("word", "kind", name="uq_word_entries_word_kind"),)


class WordListVersion(Base):
    """One change of the word lists; the highest id is the version every worker checks with."""

    __tablename__ = "wordlist_versions"
    # Never reuse a version number (SQLite would after a delete): workers cache engines by version.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    op: Mapped[str] = mapped_column(String(16))  # "add" | "remove"
    kind: Mapped[str] = mapped_column(String(16))
    word: Mapped[str] = mapped_column(String(100))
    changed_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Task(Base):
    """A moderator's background task run by a worker (word-list preview, rescan), with its progress."""

    # The table keeps its name from before moderators' tasks and the scheduler's jobs had distinct names.
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed
    params: Mapped[dict | None] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


# The accounts, notifications, scheduler and signals tables live in their own modules; importing them here
# registers them with every import of models.
from core.storage.models_accounts import Credential, Moderator  # noqa: E402,F401
from core.storage.models_notifications import MailAddress, Outbox, WebhookEndpoint  # noqa: E402,F401
from core.storage.models_scheduling import DailyStats, JobRun, SchedulerLease  # noqa: E402,F401
from core.storage.models_signals import Ban, Label  # noqa: E402,F401
