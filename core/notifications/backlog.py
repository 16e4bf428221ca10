"""How far behind the outbox is, by kind of row: what the metrics read at scrape time.

Two ages: *oldest pending* counts from when the row was written, so a delivery that is backing off between
attempts (about half an hour at most) ages too; *overdue* counts only from when a pending row became due (its
next attempt, or its creation), so it grows only when nothing sends due rows: workers down, the queue stuck.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.storage.models import utcnow
from core.storage.models_notifications import Outbox, OutboxKind, OutboxStatus

#: The kinds always reported (0 when they have no row), so an alert's series exists before the first row.
KINDS = (OutboxKind.MAIL, OutboxKind.WEBHOOK)


@dataclass
class Backlog:
    """The outbox by kind: pending rows, their ages in seconds, failed rows."""

    pending: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: dict[str, float] = field(default_factory=dict)
    overdue_seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)


def _age(value: datetime | None, now: datetime) -> float:
    """Return the seconds from *value* to *now* (0 for None); SQLite hands times back naive, in UTC."""
    if value is None:
        return 0.0
    return max(0.0, (now.replace(tzinfo=None) - value.replace(tzinfo=None)).total_seconds())


def backlog(session: Session, now: datetime | None = None) -> Backlog:
    """Read the outbox's pending and failed rows by kind, and the ages of the oldest pending ones."""
    now = now or utcnow()
    found = Backlog(pending=dict.fromkeys(KINDS, 0), oldest_pending_seconds=dict.fromkeys(KINDS, 0.0),
                    overdue_seconds=dict.fromkeys(KINDS, 0.0), failed=dict.fromkeys(KINDS, 0))
    for kind, status, count, oldest in session.execute(
        select(Outbox.kind, Outbox.status, func.count(), func.min(Outbox.created_at))
        .where(Outbox.status.in_((OutboxStatus.PENDING, OutboxStatus.FAILED)))
        .group_by(Outbox.kind, Outbox.status)
    ):
        if status == OutboxStatus.FAILED:
            found.failed[kind] = count
        else:
            found.pending[kind], found.oldest_pending_seconds[kind] = count, _age(oldest, now)
    due_since = func.coalesce(Outbox.next_attempt_at, Outbox.created_at)
    for kind, since in session.execute(
        select(Outbox.kind, func.min(due_since))
        .where(Outbox.status == OutboxStatus.PENDING,
               or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now))
        .group_by(Outbox.kind)
    ):
        found.overdue_seconds[kind] = _age(since, now)
    return found
