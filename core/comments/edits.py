"""An author's edit of their comment: a new version that is checked and translated again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.comments import authors
from core.comments.reading import get
from core.comments.text import clean_field
from core.config import Settings
from core.errors import Conflict, NotFound, ValidationError
from core.storage.models import Action, Comment, Status, Translation, TranslationStatus, utcnow


def edit(session: Session, comment_id: int, token: str | None, body: Any, settings: Settings,
         now: datetime | None = None, *, fingerprint: Callable[[str], str | None] | None = None) -> Comment:
    """Replace the body of the author's comment *comment_id*: version + 1, back to pending, translations reset.

    Every signal is judged again by the new version's check: its verdicts are cleared, *fingerprint* (the
    signals' own, core.signals.spam.fingerprint) stamps the new text, and a detected language is detected again.

    The caller commits, then sends the check when the comment is ``pending`` (a honeypot comment stays held).
    A moderator's approval is cleared: it was given to the old text, and the audit log keeps it.
    Raises:
        NotFound: no such comment (or the author deleted it).
        Forbidden: missing or wrong *token*.
        Conflict: a moderator rejected it, or the edit window is over.
        ValidationError: the new body is invalid (``fields.body``).
    """
    # Locked until the caller commits: a check recording meanwhile would otherwise leave its verdict for the
    # old text on the new version (the ORM writes only the columns it saw change). SQLite's write lock, taken
    # by BEGIN IMMEDIATE, already serialises the two.
    comment = get(session, comment_id, lock=True)
    authors.check_owner(comment, token)
    now = now or utcnow()
    if comment.status == Status.DELETED:
        raise NotFound(f"comment {comment_id} was deleted")
    if comment.status == Status.REJECTED or comment.decision == Action.REJECT:
        raise Conflict(f"comment {comment_id} was rejected by a moderator")
    if now - _aware(comment.created_at) > timedelta(seconds=settings.edit_window_seconds):
        raise Conflict(f"comment {comment_id} can only be edited within {settings.edit_window_seconds} s of posting")
    text, reason = clean_field(body, name="body", max_chars=settings.max_comment_chars, multiline=True)
    if reason:
        raise ValidationError("invalid comment", fields={"body": reason})
    previous = {"version": comment.version, "status": comment.status, "decision": comment.decision}
    comment.body = text  # type: ignore[assignment]
    comment.version += 1
    comment.edited_at = comment.updated_at = now
    comment.censored_body = comment.matched_words = comment.checked_at = comment.check_error = None
    comment.check_attempts = comment.dispatch_attempts = comment.classify_attempts = 0
    comment.dispatched_at = comment.redispatched_at = comment.model_score = comment.classified_at = None
    comment.awaits_model = False  # a mark of the version: its check sets it again
    if fingerprint is not None:
        comment.fingerprint = fingerprint(comment.body)
    if comment.lang_detected:
        # The new text may be in another language: the check detects it again (and drops that translation).
        comment.lang, comment.lang_detected = None, False
    if not comment.honeypot:
        comment.status, comment.flagged_at, comment.held = Status.PENDING, None, False
        comment.signals = comment.flag_reasons = None
        comment.decision = comment.decision_reason = comment.decided_by = comment.decided_at = None
    else:
        comment.check_error = "honeypot"
    # One explicit UPDATE, not the ORM's write of the attributes it saw change: a translation finished after the
    # read above (its rows are not locked) would otherwise keep its old text and "done" on the new version.
    session.execute(
        update(Translation).where(Translation.comment_id == comment_id)
        .values(version=comment.version, status=TranslationStatus.PENDING, text=None, reason=None,
                matched_words=None, attempts=0, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if comment.lang is None:
        _restore_translations(session, comment, settings.translation_targets, now)
    session.expire(comment, ["translations"])
    authors.audit(session, comment, "edited", previous)
    session.flush()
    return comment


def _restore_translations(session: Session, comment: Comment, targets: tuple[str, ...], now: datetime) -> None:
    """Add the pending translation into every target missing one (the language a check detected lost its row)."""
    have = set(session.scalars(select(Translation.lang).where(Translation.comment_id == comment.id)))
    for lang in targets:
        if lang not in have:
            session.add(Translation(comment_id=comment.id, lang=lang, version=comment.version,
                                    status=TranslationStatus.PENDING, attempts=0, redispatches=0,
                                    created_at=now, updated_at=now))


def _aware(value: datetime) -> datetime:
    # SQLite returns naive UTC values.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
