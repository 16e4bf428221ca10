"""Tables of the second stage: bans of authors, and moderators' decisions kept as labels for retraining."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.db import Base
from core.storage.models import utcnow


class BanScope:
    """What a ban names: an author's address, or a client (the HMAC of its network address)."""

    EMAIL = "email"
    CLIENT = "client"
    ALL = (EMAIL, CLIENT)


class Ban(Base):
    """A banned author: their new comments are held with reason ``banned``. Only hashes are stored."""

    __tablename__ = "bans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    value_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    #: The comment the ban was made from (kept as a number: the comment may be purged later).
    comment_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    removed_by: Mapped[str | None] = mapped_column(String(100))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The background task rejecting the author's undecided comments, when asked for.
    task_id: Mapped[int | None] = mapped_column(Integer)

    # One ban in force per author and scope, even when two moderators ban at the same moment (lifted ones stay).
    __table_args__ = (Index("ix_bans_in_force", "scope", "value_hash", unique=True,
                            postgresql_where=text("removed_at IS NULL"), sqlite_where=text("removed_at IS NULL")),)


class Label(Base):
    """A moderator's decision on a comment the model scored: one row per comment version, kept for retraining."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(16))
    model_score: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(16))  # approve | reject
    moderator: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("comment_id", "version", name="uq_labels_comment_version"),)
