"""Parley's worker with the prototype pipeline: ``dramatiq bench.prototypes.fast_actors --processes 2 --threads 8``.

Imports ``actors`` (same broker, middleware, settings and every other actor), then re-declares
``check_profanity`` and ``translate_comment`` under the same names and options, calling
``fast_pipeline.check_comment`` and ``fast_translation.translate`` instead of core.pipeline's, with the
translation HTTP calls on a reused Session (``fast_http``).
"""

from __future__ import annotations

from datetime import timedelta

import dramatiq

import actors  # noqa: F401  (declares the broker and every actor first)
from actors.broker import broker, settings
from actors.moderation import require_id
from bench.prototypes import fast_http, fast_pipeline, fast_translation
from core.broker import CHECK_PROFANITY, MODERATION_QUEUE, TRANSLATE_COMMENT, TRANSLATION_QUEUE
from core.errors import ValidationError
from core.languages import SUPPORTED_LANGUAGES
from core.translation import get_translator

fast_http.install()
# Dramatiq 2 refuses a second actor of the same name: replace Parley's two pipeline actors.
del broker.actors[CHECK_PROFANITY]
del broker.actors[TRANSLATE_COMMENT]


@dramatiq.actor(
    actor_name=TRANSLATE_COMMENT,
    queue_name=TRANSLATION_QUEUE,
    max_retries=settings.translation_max_attempts + 5,
    min_backoff=1_000,
    max_backoff=120_000,
    throws=(ValidationError, TypeError),
)
def translate_comment(comment_id: int, lang: str) -> None:
    """Translate comment *comment_id* into *lang* (prototype of the proposed fix)."""
    if lang not in SUPPORTED_LANGUAGES:
        raise ValidationError(f"not a supported language: {lang!r}")
    busy_for = timedelta(seconds=settings.stuck_after_seconds)
    fast_translation.translate(require_id(comment_id), lang, get_translator(settings),
                               settings.translation_max_attempts, busy_for)


@dramatiq.actor(
    actor_name=CHECK_PROFANITY,
    queue_name=MODERATION_QUEUE,
    max_retries=10,
    min_backoff=1_000,
    max_backoff=300_000,
    throws=(ValidationError, TypeError),
)
def check_profanity(comment_id: int) -> None:
    """Check comment *comment_id*, then queue its translations (prototype of the proposed fix)."""
    busy_for = timedelta(seconds=settings.stuck_after_seconds)
    langs = fast_pipeline.check_comment(require_id(comment_id), settings.check_max_attempts, busy_for)
    for lang in langs:
        translate_comment.send(comment_id, lang)
