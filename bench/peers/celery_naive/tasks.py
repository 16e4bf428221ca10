"""The peer a user would build instead of Parley: Celery + better-profanity, written the obvious way.

One task, ``check(comment_id)``: load the row with the SQLAlchemy ORM, call better-profanity's
``contains_profanity()`` and ``censor()`` directly, store the status and the censored text. Late acks
(redelivered if a worker dies), everything else Celery's defaults. Same ``comments`` table as Parley.

Run: ``celery -A bench.peers.celery_naive.tasks worker --concurrency 2 --pool prefork`` with
``BROKER_URL`` (amqp://…/vhost) and ``DATABASE_URL`` (postgresql+psycopg2://…) set.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from better_profanity import profanity
from celery import Celery
from sqlalchemy import DateTime, Integer, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

app = Celery("celery_naive", broker=os.environ.get("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(
    task_acks_late=True,
    task_default_queue="celery_naive",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///instance/parley.db"))
Session = sessionmaker(bind=engine)
profanity.load_censor_words()


class Base(DeclarativeBase):
    """Declarative base of the peer."""


class Comment(Base):
    """The columns of Parley's ``comments`` table the peer reads and writes."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    censored_body: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@app.task(name="check")
def check(comment_id: int) -> str | None:
    """Check one comment with better-profanity and publish or flag it."""
    with Session() as session:
        comment = session.get(Comment, comment_id)
        if comment is None or comment.status != "pending":
            return None
        comment.status = "flagged" if profanity.contains_profanity(comment.body) else "published"
        comment.censored_body = profanity.censor(comment.body)
        comment.checked_at = comment.updated_at = datetime.now(UTC)
        session.commit()
        return comment.status
