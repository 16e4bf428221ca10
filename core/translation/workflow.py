"""The work behind the translation actor; every write is a guarded update (the check is in core.moderation.checking)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from core.moderation import audit, wordlists
from core.notifications import outbox
from core.storage import db
from core.storage.db import session_scope
from core.storage.models import Comment, Status, Translation, TranslationStatus, utcnow

if TYPE_CHECKING:  # heavy modules stay out of the web process
    from core.profanity.engine import Verdict
    from core.translation.adapter import Translator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslationJob:
    """What one translation attempt needs."""

    body: str
    source: str | None
    attempt: int
    list_version: int = 0
    #: The comment version the body is of: the result is stored only while the translation is still of it.
    version: int = 1


_translations = Translation.__table__
_comments = Comment.__table__
_THIS = (_translations.c.comment_id == bindparam("b_comment_id"), _translations.c.lang == bindparam("b_lang"),
         _translations.c.status == TranslationStatus.PENDING)


def _of_comment(column):  # type: ignore[no-untyped-def]
    """Return *column* of the translation's comment, as a scalar subquery (RETURNING has no joins on SQLite)."""
    return select(column).where(_comments.c.id == _translations.c.comment_id).scalar_subquery()


# One statement, committed on its own before the provider is called: as in the check, duplicates must
# not use up the attempts and fail a translation whose last attempt is still running (and about to succeed).
# Only a translation of the comment's current version is claimed, and the claim returns that version: the
# finish is guarded by it, so a result computed for a body the author has since edited is discarded (the edit
# put the translation back to pending with the new version, and the new version's check sends it again).
_CLAIM = (
    update(_translations)
    .where(*_THIS, _translations.c.version == _of_comment(_comments.c.version),
           ~((_translations.c.attempts >= bindparam("max_attempts"))
             & (_translations.c.updated_at > bindparam("busy_since"))))
    .values(attempts=_translations.c.attempts + 1, updated_at=bindparam("b_now"))
    .returning(_of_comment(_comments.c.body), _of_comment(_comments.c.lang), _of_comment(_comments.c.status),
               _translations.c.attempts, _translations.c.version,
               wordlists.VERSION.scalar_subquery())
)
_FINISH = (
    update(_translations)
    .where(*_THIS, _translations.c.version == bindparam("b_version"))
    .values(status=bindparam("b_status"), text=bindparam("b_text"), reason=bindparam("b_reason"),
            matched_words=bindparam("b_words", type_=_translations.c.matched_words.type), updated_at=bindparam("b_now"))
)


def finish_translation(
    session: Session, comment_id: int, lang: str, status: str, *, version: int, text: str | None = None,
    reason: str | None = None, words: list[str] | None = None,
) -> bool:
    """Move a pending translation of comment *version* to its final *status*; False if final or of another version."""
    return _finish(session, comment_id, lang, status, version, text, reason, words)


def _finish(
    executor: Session | Connection, comment_id: int, lang: str, status: str, version: int, text: str | None,
    reason: str | None, words: list[str] | None,
) -> bool:
    """Run the guarded final write of one translation on *executor*."""
    return bool(executor.execute(_FINISH, {
        "b_comment_id": comment_id, "b_lang": lang, "b_status": status, "b_text": text, "b_reason": reason,
        "b_words": words, "b_now": utcnow(), "b_version": version,
    }).rowcount)


def claim_translation(
    comment_id: int, lang: str, max_attempts: int, busy_for: timedelta = timedelta(0)
) -> TranslationJob | None:
    """Count one more attempt at a pending translation (committed at once); return the job, or None."""
    now = utcnow()
    with db.autocommit() as connection:
        row = connection.execute(_CLAIM, {"b_comment_id": comment_id, "b_lang": lang, "max_attempts": max_attempts,
                                          "busy_since": now - busy_for, "b_now": now}).first()
    if row is None:
        return None
    body, source, status, attempts, version, list_version = row
    if status == Status.REJECTED or attempts > max_attempts:
        with session_scope() as session:
            if status == Status.REJECTED:
                finish_translation(session, comment_id, lang, TranslationStatus.SKIPPED, version=version,
                                   reason="comment rejected")
            else:
                finish_translation(session, comment_id, lang, TranslationStatus.FAILED, version=version,
                                   reason=f"gave up after {attempts - 1} attempts")
        return None
    return TranslationJob(body=body, source=source, attempt=attempts, list_version=list_version, version=version)


def flag_by_translation(session: Session, comment_id: int, lang: str, words: list[str], version: int) -> bool:
    """Flag *version* of a published, undecided comment whose translation (of that version) is profane."""
    now = utcnow()
    flagged = session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.version == version, Comment.status == Status.PUBLISHED,
               Comment.decision.is_(None))
        .values(status=Status.FLAGGED, flagged_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if flagged:
        audit.record(
            session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=comment_id,
            detail={"words": words, "source": f"translation:{lang}"},
            dedupe_key=audit.version_key("flagged", comment_id, version),
        )
        outbox.record_event(session, outbox.FLAGGED, comment_id)  # the caller sends outbox.written(session)
    return bool(flagged)


def translate(
    comment_id: int, lang: str, translator: Translator, max_attempts: int, busy_for: timedelta = timedelta(0),
    notify: Callable[[list[int]], object] | None = None,
) -> str | None:
    """Translate comment *comment_id* into *lang*; return the final status, or None if nothing to do.

    *notify* sends the outbox rows of a flag the translation raised, after their commit (without it, or when
    the broker does not take them, the scheduler's re-dispatch sends them).

    Raises:
        TransientTranslationError: the provider may succeed later; the caller retries with backoff.
    """
    from core.translation.adapter import NothingToTranslate, PermanentTranslationError, TransientTranslationError

    job = claim_translation(comment_id, lang, max_attempts, busy_for)
    if job is None:
        return None
    status, text, reason = TranslationStatus.DONE, None, None
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
    verdict: Verdict | None = wordlists.engine_at(job.list_version).check(text) if text is not None else None
    words = verdict.words if verdict is not None else None
    if verdict is not None and verdict.profane:
        # Two writes that must land together: the translation and the flag it raises. The comment row first,
        # as an author's edit does (comment, then its translations): the opposite order could deadlock with it.
        with session_scope() as session:
            flag_by_translation(session, comment_id, lang, verdict.words, job.version)
            if not finish_translation(session, comment_id, lang, status, version=job.version, text=text,
                                      reason=reason, words=words):
                session.rollback()  # no flag without its translation: a duplicate finished it, or an edit voided it
                outbox.forget(session)
                return None
        notes = outbox.written(session)
        if notify is not None and notes:
            notify(notes)
    else:
        with db.autocommit() as connection:  # one guarded statement: its own transaction
            if not _finish(connection, comment_id, lang, status, job.version, text, reason, words):
                return None
    logger.log(logging.DEBUG if status == TranslationStatus.DONE else logging.INFO,
               "Comment %d translation to %s: %s %s", comment_id, lang, status, reason or "")
    return status
