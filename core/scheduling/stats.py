"""Daily moderation statistics, computed in UTC days from comments and audit events."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.storage import paging
from core.storage.models import AuditEvent, Comment, Status
from core.storage.models_scheduling import DailyStats

MAX_DAYS = 366
COUNTS = ("posted", "published", "flagged", "approved", "rejected", "purged")


def parse_days(raw: str | None, default: int = 14) -> int:
    """Return the number of days asked for; raise ValidationError unless 1..MAX_DAYS."""
    if raw in (None, ""):
        return default
    if not paging.is_number(raw, 1, MAX_DAYS):
        raise ValidationError("invalid days", fields={"days": f"an integer from 1 to {MAX_DAYS}"})
    return int(raw)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the UTC start and end of *day*."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _by_day(session: Session, column: Any, start: datetime, *conditions: Any) -> dict[str, int]:
    day = func.date(column)
    rows = session.execute(select(day, func.count()).where(column >= start, *conditions).group_by(day))
    return {str(d): n for d, n in rows}


def compute(session: Session, first: date, last: date) -> list[dict[str, Any]]:
    """Return one row per UTC day from *first* to *last*: the counts and moderation latency."""
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    counts = {
        "posted": _by_day(session, Comment.created_at, start, Comment.created_at < end),
        "published": _by_day(session, Comment.created_at, start, Comment.created_at < end,
                             Comment.status == Status.PUBLISHED),
        "flagged": _by_day(session, Comment.flagged_at, start, Comment.flagged_at < end),
        "approved": _by_day(session, AuditEvent.at, start, AuditEvent.at < end, AuditEvent.kind == "decision",
                            AuditEvent.action == "approve"),
        "rejected": _by_day(session, AuditEvent.at, start, AuditEvent.at < end, AuditEvent.kind == "decision",
                            AuditEvent.action == "reject"),
        "purged": _purged_by_day(session, start, end),
    }
    latencies: dict[str, list[float]] = {}
    for decided, flagged in session.execute(
        select(Comment.decided_at, Comment.flagged_at).where(
            Comment.decided_at >= start, Comment.decided_at < end, Comment.flagged_at.is_not(None)
        )
    ):
        seconds = (decided.replace(tzinfo=None) - flagged.replace(tzinfo=None)).total_seconds()
        latencies.setdefault(decided.date().isoformat(), []).append(max(0.0, seconds))
    rows = []
    day = first
    while day <= last:
        key = day.isoformat()
        values = sorted(latencies.get(key, []))
        row: dict[str, Any] = {"day": key, **{name: counts[name].get(key, 0) for name in COUNTS}}
        row["latency_seconds"] = {
            "count": len(values),
            "p50": round(statistics.median(values), 1) if values else None,
            "max": round(values[-1], 1) if values else None,
        }
        rows.append(row)
        day += timedelta(days=1)
    return rows


def _purged_by_day(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Sum the comments each purge run deleted, by day (purge events carry a count)."""
    totals: dict[str, int] = {}
    for at, detail in session.execute(
        select(AuditEvent.at, AuditEvent.detail).where(
            AuditEvent.at >= start, AuditEvent.at < end, AuditEvent.action == "purge"
        )
    ):
        key = at.date().isoformat()
        totals[key] = totals.get(key, 0) + int((detail or {}).get("deleted", 0))
    return totals


def stored_row(row: DailyStats) -> dict[str, Any]:
    """Return a stored daily_stats row in the shape of ``compute``."""
    return {
        "day": row.day.isoformat(),
        **{name: getattr(row, name) for name in COUNTS},
        "latency_seconds": {"count": row.latency_count, "p50": row.latency_p50, "max": row.latency_max},
    }


def recent(session: Session, days: int, today: date | None = None) -> list[dict[str, Any]]:
    """Return the last *days* days, oldest first, ending today (UTC).

    Past days come from the nightly snapshot when there is one (it still counts comments purged
    since); today and days without a snapshot are computed live.
    """
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    stored = {row.day.isoformat(): stored_row(row) for row in session.scalars(
        select(DailyStats).where(DailyStats.day >= first, DailyStats.day < today))}
    return [stored.get(row["day"], row) for row in compute(session, first, today)]
