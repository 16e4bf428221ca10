"""The work behind the actors: check a comment, translate it; every write is a guarded update."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit, wordlists
from core.db import session_scope
from core.models import Comment, Status, Translation, TranslationStatus, utcnow

if TYPE_CHECKING:  # heavy modules stay out of the web process
    from core.profanity import Verdict
    from core.translation import Translator

logger = logging.getLogger(__name__)


def _undecided_pending(comment_id: int):  # type: ignore[no-untyped-def]
    """Return the guard that only lets the check write a comment nobody has decided yet."""
    return (
        Comment.id == comment_id,
        Comment.checked_at.is_(None),
        Comment.status == Status.PENDING,
        Comment.decision.is_(None),
    )


def claim_check(session: Session, comment_id: int, max_attempts: int, busy_for: timedelta = timedelta(0)) -> str | None:
    """Count one more check attempt; return the body to check, or None when nothing is left to do."""
    # Counted before the work and committed on its own, so a message that kills the worker
    # (redelivered forever by RabbitMQ, see PITFALLS 1.2) still runs out of attempts.
    # Once they are spent, a delivery within *busy_for* of the last attempt is a duplicate (redelivery,
    # re-dispatch, re-sent publish) of an attempt that may still run: it does nothing rather than give up
    # under it. A dead attempt is re-sent by the re-dispatch after that long, and then gives up.
    last_may_run = (Comment.check_attempts >= max_attempts) & (Comment.updated_at > utcnow() - busy_for)
    claimed = session.execute(
        update(Comment)
        .where(*_undecided_pending(comment_id), ~last_may_run)
        .values(check_attempts=Comment.check_attempts + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    body, attempts = session.execute(
        select(Comment.body, Comment.check_attempts).where(Comment.id == comment_id)
    ).one()
    if attempts > max_attempts:
        hold_for_review(session, comment_id, f"profanity check failed {attempts - 1} times")
        return None
    return body


def hold_for_review(session: Session, comment_id: int, reason: str) -> bool:
    """Flag a comment whose check cannot finish, so a moderator decides instead of a retry loop."""
    now = utcnow()
    held = session.execute(
        update(Comment)
        .where(*_undecided_pending(comment_id))
        .values(status=Status.FLAGGED, check_error=reason, checked_at=now, flagged_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if held:
        logger.warning("Comment %d held for review: %s", comment_id, reason)
        audit.record(
            session, kind="system", action="held", actor=audit.SYSTEM, comment_id=comment_id,
            reason=reason, dedupe_key=f"held:{comment_id}",
        )
    return bool(held)


def record_check(session: Session, comment_id: int, verdict: Verdict) -> bool:
    """Store the profanity verdict unless the comment was already checked or decided."""
    now = utcnow()
    status = Status.FLAGGED if verdict.profane else Status.PUBLISHED
    applied = session.execute(
        update(Comment)
        .where(*_undecided_pending(comment_id))
        .values(
            status=status,
            censored_body=verdict.censored,
            matched_words=verdict.words,
            checked_at=now,
            flagged_at=now if verdict.profane else None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if applied and verdict.profane:
        audit.record(
            session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=comment_id,
            detail={"words": verdict.words, "source": "body"}, dedupe_key=f"flagged:{comment_id}",
        )
    return bool(applied)


def pending_translations(session: Session, comment_id: int) -> list[str]:
    """Return the target languages of *comment_id* still waiting for a translation."""
    return list(
        session.scalars(
            select(Translation.lang).where(
                Translation.comment_id == comment_id, Translation.status == TranslationStatus.PENDING
            )
        )
    )


def check_comment(comment_id: int, max_attempts: int, busy_for: timedelta = timedelta(0)) -> list[str]:
    """Check comment *comment_id* with the word lists in force; return the languages to translate into."""
    with session_scope() as session:
        body = claim_check(session, comment_id, max_attempts, busy_for)
        # Read in the same transaction: a word-list change applies to the very next check.
        engine = wordlists.current_engine(session) if body is not None else None
    if body is None or engine is None:
        logger.info("Comment %d needs no check (done, decided, held or unknown).", comment_id)
        return []
    verdict = engine.check(body)
    with session_scope() as session:
        if not record_check(session, comment_id, verdict):
            return []
        langs = pending_translations(session, comment_id)
    logger.info("Comment %d checked: %s", comment_id, "flagged" if verdict.profane else "published")
    return langs


@dataclass(frozen=True)
class TranslationJob:
    """What one translation attempt needs."""

    body: str
    source: str | None
    attempt: int


def finish_translation(
    session: Session, comment_id: int, lang: str, status: str, *, text: str | None = None,
    reason: str | None = None, words: list[str] | None = None,
) -> bool:
    """Move a pending translation to its final *status*; return False if it was already final."""
    return bool(
        session.execute(
            update(Translation)
            .where(
                Translation.comment_id == comment_id,
                Translation.lang == lang,
                Translation.status == TranslationStatus.PENDING,
            )
            .values(status=status, text=text, reason=reason, matched_words=words, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def claim_translation(
    session: Session, comment_id: int, lang: str, max_attempts: int, busy_for: timedelta = timedelta(0)
) -> TranslationJob | None:
    """Count one more attempt at a pending translation; return the job, or None if nothing to do."""
    # As in claim_check: duplicates must not use up the attempts and fail a translation whose last
    # attempt is still running (and about to succeed).
    last_may_run = (Translation.attempts >= max_attempts) & (Translation.updated_at > utcnow() - busy_for)
    claimed = session.execute(
        update(Translation)
        .where(
            Translation.comment_id == comment_id,
            Translation.lang == lang,
            Translation.status == TranslationStatus.PENDING,
            ~last_may_run,
        )
        .values(attempts=Translation.attempts + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    body, source, status, attempts = session.execute(
        select(Comment.body, Comment.lang, Comment.status, Translation.attempts)
        .join(Translation, Translation.comment_id == Comment.id)
        .where(Comment.id == comment_id, Translation.lang == lang)
    ).one()
    if status == Status.REJECTED:
        finish_translation(session, comment_id, lang, TranslationStatus.SKIPPED, reason="comment rejected")
        return None
    if attempts > max_attempts:
        reason = f"gave up after {attempts - 1} attempts"
        finish_translation(session, comment_id, lang, TranslationStatus.FAILED, reason=reason)
        return None
    return TranslationJob(body=body, source=source, attempt=attempts)


def flag_by_translation(session: Session, comment_id: int, lang: str, words: list[str]) -> bool:
    """Flag a published, undecided comment whose translation is profane."""
    now = utcnow()
    flagged = session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.status == Status.PUBLISHED, Comment.decision.is_(None))
        .values(status=Status.FLAGGED, flagged_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if flagged:
        audit.record(
            session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=comment_id,
            detail={"words": words, "source": f"translation:{lang}"}, dedupe_key=f"flagged:{comment_id}",
        )
    return bool(flagged)


def translate(
    comment_id: int, lang: str, translator: Translator, max_attempts: int, busy_for: timedelta = timedelta(0)
) -> str | None:
    """Translate comment *comment_id* into *lang*; return the final status, or None if nothing to do.

    Raises:
        TransientTranslationError: the provider may succeed later; the caller retries with backoff.
    """
    from core.translation import NothingToTranslate, PermanentTranslationError, TransientTranslationError

    with session_scope() as session:
        job = claim_translation(session, comment_id, lang, max_attempts, busy_for)
        engine = wordlists.current_engine(session) if job is not None else None
    if job is None or engine is None:
        return None
    status, text, reason, words = TranslationStatus.DONE, None, None, None
    try:
        text = translator.translate(job.body, job.source, lang)
    except NothingToTranslate as exc:
        status, reason = TranslationStatus.SKIPPED, exc.reason
    except PermanentTranslationError as exc:
        status, reason = TranslationStatus.FAILED, exc.reason
    except TransientTranslationError as exc:
        if job.attempt < max_attempts:
            raise
        status, reason = TranslationStatus.FAILED, f"gave up after {job.attempt} attempts: {exc.reason}"
    verdict: Verdict | None = engine.check(text) if text is not None else None
    if verdict is not None:
        words = verdict.words
    with session_scope() as session:
        if not finish_translation(session, comment_id, lang, status, text=text, reason=reason, words=words):
            return None
        if verdict is not None and verdict.profane:
            flag_by_translation(session, comment_id, lang, verdict.words)
    logger.info("Comment %d translation to %s: %s %s", comment_id, lang, status, reason or "")
    return status
