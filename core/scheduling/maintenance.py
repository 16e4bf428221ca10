"""The scheduler's jobs, run by a worker: re-dispatch stuck work, purge rejected comments, daily stats."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core import ratelimit
from core.config import Settings
from core.moderation import accounts, audit, checking, classifying, tasks, throttle
from core.notifications import digest, outbox
from core.scheduling import schedule, stats
from core.storage.db import dialect_insert, session_scope
from core.storage.models import AuditEvent, Comment, Status, Translation, TranslationStatus, utcnow
from core.storage.models_scheduling import DailyStats
from core.translation import workflow

logger = logging.getLogger(__name__)
BATCH = 1000
#: A comment whose first publish was never confirmed is re-sent this soon, not after STUCK_AFTER_SECONDS.
UNDISPATCHED_GRACE = timedelta(seconds=10)


@dataclass
class Outcome:
    """What a job did, and the messages its actor must send after commit."""

    detail: dict[str, Any] = field(default_factory=dict)
    checks: list[int] = field(default_factory=list)
    classifications: list[int] = field(default_factory=list)
    translations: list[tuple[int, str]] = field(default_factory=list)
    notifications: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)


def redispatch(session: Session, settings: Settings, now: datetime) -> Outcome:
    """Pick unfinished work older than STUCK_AFTER_SECONDS to send again; give up after the limit."""
    cutoff = now - timedelta(seconds=settings.stuck_after_seconds)
    limit = settings.redispatch_max_attempts
    outcome = Outcome()
    held = failed = 0
    # An edited comment is pending again under a new version; its check message is the edit's, so the edit's
    # time counts as its creation's here (updated_at and redispatched_at already carry it).
    sent_at = func.coalesce(Comment.edited_at, Comment.created_at)
    stuck = (Comment.updated_at < cutoff) & (func.coalesce(Comment.redispatched_at, sent_at) < cutoff)
    never_sent = Comment.dispatched_at.is_(None) & (Comment.redispatches == 0) & (sent_at < now - UNDISPATCHED_GRACE)
    for comment_id, count, version in session.execute(
        select(Comment.id, Comment.redispatches, Comment.version)
        .where(Comment.status == Status.PENDING, Comment.checked_at.is_(None), Comment.decision.is_(None),
               stuck | never_sent)
        .order_by(Comment.id).limit(BATCH)
    ):
        if count >= limit:
            held += checking.hold_for_review(session, comment_id, f"not checked after {count} re-dispatches", version)
            continue
        if _count_redispatch(session, Comment, comment_id, count, now):
            outcome.checks.append(comment_id)
    # Checked comments awaiting the offensive-language model (counted on the same redispatches).
    for comment in session.execute(classifying.stuck(cutoff)):
        if comment.redispatches >= limit:
            reason = f"not classified after {comment.redispatches} re-dispatches"
            held += classifying.hold_for_review(session, classifying.Claimed(*comment[:-1]), reason) is not None
        elif _count_redispatch(session, Comment, comment.id, comment.redispatches, now):
            outcome.classifications.append(comment.id)
    for translation_id, comment_id, lang, count, version in session.execute(
        select(Translation.id, Translation.comment_id, Translation.lang, Translation.redispatches, Translation.version)
        .join(Comment, Comment.id == Translation.comment_id)
        .where(
            Translation.status == TranslationStatus.PENDING,
            # Only once the current version was checked: its check sends the translations first.
            Comment.checked_at.is_not(None), Translation.version == Comment.version,
            Translation.updated_at < cutoff,
            func.coalesce(Translation.redispatched_at, Translation.created_at) < cutoff,
        )
        .order_by(Translation.id).limit(BATCH)
    ):
        if count >= limit:
            failed += workflow.finish_translation(
                session, comment_id, lang, TranslationStatus.FAILED, version=version,
                reason=f"not processed after {count} re-dispatches",
            )
            continue
        if _count_redispatch(session, Translation, translation_id, count, now):
            outcome.translations.append((comment_id, lang))
    # Moderators' tasks whose message was lost, or whose worker died mid-run; a failed one ends `failed`.
    outcome.tasks, gave_up = tasks.stuck(session, now, cutoff, limit)
    failed += gave_up
    # Outbox rows the broker never confirmed, or whose retry it lost (at least once: the claim drops a repeat).
    outcome.notifications = outbox.due(session, now, timedelta(seconds=settings.stuck_after_seconds))
    outcome.notifications += outbox.written(session)  # the comment.flagged rows of the comments held above
    outcome.detail = {"checks": len(outcome.checks), "classifications": len(outcome.classifications),
                      "translations": len(outcome.translations), "tasks": len(outcome.tasks),
                      "held": held, "failed": failed, "notifications": len(outcome.notifications)}
    return outcome


def _count_redispatch(session: Session, model: type[Comment] | type[Translation], row_id: int, count: int,
                      now: datetime) -> bool:
    """Count one more re-dispatch of row *row_id*; False when another run counted it first."""
    # Guarded on the count we read: two overlapping runs cannot both send. Re-sending is not progress:
    # updated_at keeps the time of the last attempt, which the claim uses to tell a running one from a dead one.
    return bool(session.execute(
        update(model).where(model.id == row_id, model.redispatches == count)
        .values(redispatches=count + 1, redispatched_at=now, updated_at=model.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount)


def purge_candidates(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Return the ids of rejected comments older than RETENTION_REJECTED_DAYS (the dry-run answer)."""
    cutoff = now - timedelta(days=settings.retention_rejected_days)
    return list(session.scalars(
        select(Comment.id).where(Comment.status == Status.REJECTED, Comment.decided_at < cutoff)
        .order_by(Comment.id).limit(10 * BATCH)
    ))


def purge(session: Session, settings: Settings, now: datetime) -> Outcome:
    """Delete old rejected comments (audit events keep ids and decisions only), expired credentials, old login
    failures and finished rate-limit windows."""
    ids = purge_candidates(session, settings, now)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        session.execute(
            update(AuditEvent).where(AuditEvent.comment_id.in_(chunk))
            .values(reason=None, detail=None, redacted=True).execution_options(synchronize_session=False)
        )
        session.execute(delete(Translation).where(Translation.comment_id.in_(chunk)))
        session.execute(delete(Comment).where(Comment.id.in_(chunk), Comment.status == Status.REJECTED))
    detail = {"deleted": len(ids), "ids": ids[:BATCH], "retention_days": settings.retention_rejected_days,
              "expired_credentials": accounts.purge_expired(session, now),
              "login_failures": throttle.forget_old(session, now.timestamp()),
              "rate_limit_windows": ratelimit.forget_finished(session, now.timestamp())}
    audit.record(session, kind="system", action="purge", actor=audit.SYSTEM, detail=detail)
    return Outcome(detail=detail)


def store_daily_stats(session: Session, first: date, last: date) -> Outcome:
    """Upsert one daily_stats row per day from *first* to *last* (idempotent)."""
    insert = dialect_insert(session)
    days = []
    for row in stats.compute(session, first, last):
        latency = row["latency_seconds"]
        values = {name: row[name] for name in stats.COUNTS}
        values.update(latency_count=latency["count"], latency_p50=latency["p50"], latency_max=latency["max"],
                      computed_at=utcnow())
        statement = insert(DailyStats).values(day=date.fromisoformat(row["day"]), **values)
        session.execute(statement.on_conflict_do_update(index_elements=["day"], set_=values))
        days.append(row["day"])
    return Outcome(detail={"days": days})


def daily_stats(session: Session, settings: Settings, now: datetime) -> Outcome:
    """Store yesterday's and the day before's statistics (late decisions land in the right day)."""
    yesterday = now.astimezone(UTC).date() - timedelta(days=1)
    return store_daily_stats(session, yesterday - timedelta(days=1), yesterday)


def moderator_digest(session: Session, settings: Settings, now: datetime) -> Outcome:
    """Write the moderators' digest mails of comments flagged since the last digest (none when nothing is new)."""
    return Outcome(digest.collect(session, settings, now))


JOB_FUNCTIONS: dict[str, Callable[[Session, Settings, datetime], Outcome]] = {
    "redispatch": redispatch, "purge": purge, "daily_stats": daily_stats, "digest": moderator_digest,
}


def run(job: str, slot: datetime, settings: Settings, manual: bool = False) -> Outcome | None:
    """Run *job* for *slot* unless the ledger says it ran; record the outcome; None when skipped."""
    stale = timedelta(seconds=max(settings.stuck_after_seconds, 600))
    with session_scope() as session:
        if not schedule.claim_run(session, job, slot, manual, stale):
            logger.info("Job %s for slot %s already ran; skipped.", job, slot.isoformat(), extra={"job": job})
            return None
    try:
        with session_scope() as session:
            outcome = JOB_FUNCTIONS[job](session, settings, utcnow())
            outcome.notifications += outbox.written(session)  # rows a job wrote (the digest's mails)
            schedule.finish_run(session, job, slot, "done", outcome.detail)
    except SQLAlchemyError as exc:
        # Record the failure in the ledger (so `scheduler.py list` shows it) and let the actor retry.
        with session_scope() as session:
            schedule.finish_run(session, job, slot, "failed", {"error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
    logger.info("Job %s for slot %s done: %s", job, slot.isoformat(), outcome.detail, extra={"job": job})
    return outcome
