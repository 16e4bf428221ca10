"""Parley's own gauges, read at scrape time from the database and RabbitMQ."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.notifications.backlog import Backlog, backlog
from core.scheduling import schedule
from core.storage.models import Comment, Status, Translation, TranslationStatus, utcnow

logger = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """Everything the gauges show, at one instant."""

    oldest_pending_seconds: float = 0.0
    pending: int = 0
    flagged_backlog: int = 0
    oldest_flagged_seconds: float = 0.0
    translation_failures: dict[str, int] = field(default_factory=dict)
    scheduler_last_success: dict[str, float] = field(default_factory=dict)
    queue_depths: dict[str, int | None] = field(default_factory=dict)
    outbox: Backlog = field(default_factory=Backlog)


def reason_label(reason: str | None) -> str:
    """Collapse a failure reason into a low-cardinality label ("gave up after N attempts: timeout" → …)."""
    text = (reason or "unknown").split(":")[-1].strip().lower()
    return re.sub(r"\d+", "N", text)[:60] or "unknown"


def _age(value, now) -> float:  # type: ignore[no-untyped-def]
    return max(0.0, (now.replace(tzinfo=None) - value.replace(tzinfo=None)).total_seconds()) if value else 0.0


def snapshot(session: Session) -> Snapshot:
    """Read the database side of the gauges."""
    now = utcnow()
    snap = Snapshot()
    pending, oldest = session.execute(
        select(func.count(), func.min(Comment.created_at)).where(Comment.status == Status.PENDING)
    ).one()
    snap.pending, snap.oldest_pending_seconds = pending, _age(oldest, now)
    flagged, oldest_flag = session.execute(
        select(func.count(), func.min(Comment.flagged_at)).where(
            Comment.status == Status.FLAGGED, Comment.decision.is_(None))
    ).one()
    snap.flagged_backlog, snap.oldest_flagged_seconds = flagged, _age(oldest_flag, now)
    for reason, count in session.execute(
        select(Translation.reason, func.count()).where(Translation.status == TranslationStatus.FAILED)
        .group_by(Translation.reason)
    ):
        label = reason_label(reason)
        snap.translation_failures[label] = snap.translation_failures.get(label, 0) + count
    # Stored in UTC (SQLite hands it back naive): never let timestamp() read it as local time.
    snap.scheduler_last_success = {job: when.replace(tzinfo=UTC).timestamp()
                                   for job, when in schedule.last_success(session).items()}
    snap.outbox = backlog(session, now)
    return snap
