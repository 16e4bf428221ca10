"""Prototype of the proposed ``core.pipeline.translate``: same guards and outcomes, 2 round trips instead of 8.

What changes against core/pipeline.py (see docs/BENCHMARKS.md, "Proposed fixes"):
- the claim is one ``UPDATE translations … FROM comments … RETURNING body, source language, comment status,
  attempts, <word-list version>`` (was UPDATE + SELECT join + SELECT max(version) + COMMIT, after a pre-ping);
- the outcome is one statement: ``WITH fin AS (UPDATE translations … RETURNING comment_id), flag AS (UPDATE
  comments … FROM fin WHERE :profane …), audit AS (INSERT INTO audit_events … FROM flag ON CONFLICT DO
  NOTHING) SELECT count(*) FROM fin`` (was UPDATE + UPDATE + INSERT + COMMIT, after a pre-ping);
- both autocommitted on the worker's AUTOCOMMIT engine (shared with fast_pipeline), no connection is held
  during the provider call. The rare paths (rejected comment, attempts spent) reuse core.pipeline.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import text

from bench.prototypes.fast_pipeline import _engine_for, autocommit_engine
from core import db, pipeline
from core.models import Status, TranslationStatus, utcnow
from core.translation import NothingToTranslate, PermanentTranslationError, TransientTranslationError, Translator

logger = logging.getLogger("core.pipeline")

CLAIM = text(
    "UPDATE translations t SET attempts = t.attempts + 1, updated_at = :now FROM comments c"
    " WHERE t.comment_id = :cid AND t.lang = :lang AND t.status = :pending AND c.id = t.comment_id"
    " AND NOT (t.attempts >= :max AND t.updated_at > :busy_since)"
    " RETURNING c.body, c.lang, c.status, t.attempts, (SELECT coalesce(max(id), 0) FROM wordlist_versions)"
)
FINISH = text(
    "WITH fin AS ("
    " UPDATE translations SET status = :status, text = :text, reason = :reason, matched_words = CAST(:words AS JSON),"
    " updated_at = :now WHERE comment_id = :cid AND lang = :lang AND status = :pending RETURNING comment_id"
    "), flag AS ("
    " UPDATE comments SET status = :flagged, flagged_at = :now, updated_at = :now FROM fin"
    " WHERE comments.id = fin.comment_id AND :profane AND comments.status = :published"
    " AND comments.decision IS NULL RETURNING comments.id"
    "), audit AS ("
    " INSERT INTO audit_events (comment_id, kind, action, actor, reason, detail, dedupe_key, redacted, at)"
    " SELECT id, 'system', 'flagged', 'system', NULL, CAST(:detail AS JSON), :dedupe, false, :now FROM flag"
    " ON CONFLICT (dedupe_key) DO NOTHING"
    ") SELECT count(*) FROM fin"
)


def translate(
    comment_id: int, lang: str, translator: Translator, max_attempts: int, busy_for: timedelta = timedelta(0)
) -> str | None:
    """Translate comment *comment_id* into *lang* (same contract as core.pipeline.translate)."""
    now = utcnow()
    with autocommit_engine().connect() as connection:
        row = connection.execute(CLAIM, {
            "cid": comment_id, "lang": lang, "pending": TranslationStatus.PENDING, "now": now,
            "max": max_attempts, "busy_since": now - busy_for,
        }).first()
    if row is None:
        return None
    body, source, comment_status, attempt, version = row
    if comment_status == Status.REJECTED or attempt > max_attempts:
        with db.session_scope() as session:
            if comment_status == Status.REJECTED:
                pipeline.finish_translation(session, comment_id, lang, TranslationStatus.SKIPPED,
                                            reason="comment rejected")
            else:
                pipeline.finish_translation(session, comment_id, lang, TranslationStatus.FAILED,
                                            reason=f"gave up after {attempt - 1} attempts")
        return None
    engine = _engine_for(version)
    status, translated, reason = TranslationStatus.DONE, None, None
    try:
        translated = translator.translate(body, source, lang)
    except NothingToTranslate as exc:
        status, reason = TranslationStatus.SKIPPED, exc.reason
    except PermanentTranslationError as exc:
        status, reason = TranslationStatus.FAILED, exc.reason
    except TransientTranslationError as exc:
        if attempt < max_attempts:
            raise
        status, reason = TranslationStatus.FAILED, f"gave up after {attempt} attempts: {exc.reason}"
    verdict = engine.check(translated) if translated is not None else None
    words = verdict.words if verdict is not None else None
    profane = bool(verdict is not None and verdict.profane)
    with autocommit_engine().connect() as connection:
        finished = connection.execute(FINISH, {
            "cid": comment_id, "lang": lang, "pending": TranslationStatus.PENDING, "status": status,
            "text": translated, "reason": reason, "words": json.dumps(words), "now": utcnow(),
            "flagged": Status.FLAGGED, "published": Status.PUBLISHED, "profane": profane,
            "detail": json.dumps({"words": words, "source": f"translation:{lang}"}),
            "dedupe": f"flagged:{comment_id}",
        }).scalar_one()
    if not finished:
        return None
    logger.info("Comment %d translation to %s: %s %s", comment_id, lang, status, reason or "")
    return status
