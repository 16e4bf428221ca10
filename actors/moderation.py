"""Profanity check actor: a thin shell over ``core.pipeline.check_comment``."""

from __future__ import annotations

import logging
from datetime import timedelta

import dramatiq

from actors.broker import settings
from core import pipeline
from core.broker import CHECK_PROFANITY, MODERATION_QUEUE
from core.errors import ValidationError
from core.models import MAX_ID

logger = logging.getLogger(__name__)


def require_id(value: object) -> int:
    """Return *value* as a comment id, or raise ValidationError (dead-lettered, never retried)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ValidationError(f"not a comment id: {value!r}")
    return value


@dramatiq.actor(
    actor_name=CHECK_PROFANITY,
    queue_name=MODERATION_QUEUE,
    max_retries=10,
    min_backoff=1_000,
    max_backoff=300_000,
    throws=(ValidationError, TypeError),
)
def check_profanity(comment_id: int) -> None:
    """Check comment *comment_id* for profanity, then queue its translations; safe to run twice."""
    from actors.translation import translate_comment

    # The last attempt counts as running until the re-dispatch would consider it stuck.
    busy_for = timedelta(seconds=settings.stuck_after_seconds)
    langs = pipeline.check_comment(require_id(comment_id), settings.check_max_attempts, busy_for)
    # Sent after the check committed, so a translation never races ahead of its comment.
    for lang in langs:
        translate_comment.send(comment_id, lang)
