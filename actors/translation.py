"""Translation actor: a thin shell over ``core.translation.workflow.translate``."""

from __future__ import annotations

from datetime import timedelta

import dramatiq

from actors.broker import dispatcher, settings
from actors.envelope import require_id
from core.errors import ValidationError
from core.languages import SUPPORTED_LANGUAGES
from core.messaging.broker import TRANSLATE_COMMENT, TRANSLATION_QUEUE
from core.notifications import outbox
from core.translation import workflow
from core.translation.adapter import get_translator


@dramatiq.actor(
    actor_name=TRANSLATE_COMMENT,
    queue_name=TRANSLATION_QUEUE,
    # The database counts attempts (TRANSLATION_MAX_ATTEMPTS) and ends the translation "failed";
    # Dramatiq's own limit is a backstop for errors that happen before that count is written.
    max_retries=settings.translation_max_attempts + 5,
    min_backoff=1_000,
    max_backoff=120_000,
    throws=(ValidationError, TypeError),
)
def translate_comment(comment_id: int, lang: str) -> None:
    """Translate comment *comment_id* into *lang*; transient provider errors are retried with backoff."""
    if lang not in SUPPORTED_LANGUAGES:
        raise ValidationError(f"not a supported language: {lang!r}")
    translator = get_translator(settings)
    # The last attempt counts as running until the re-dispatch would consider it stuck.
    busy_for = timedelta(seconds=settings.stuck_after_seconds)
    workflow.translate(require_id(comment_id), lang, translator, settings.translation_max_attempts, busy_for,
                       notify=lambda ids: outbox.send_all(ids, dispatcher.send_notification))
