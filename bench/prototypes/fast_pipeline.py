"""Prototype of the proposed ``core.pipeline.check_comment``: same guards, 2 round trips instead of 9–10.

What changes against core/pipeline.py (see docs/BENCHMARKS.md, "Proposed fixes"):
- one pool checkout per message, without pre-ping (was one checkout and one ``SELECT 1`` per ``session_scope()``);
- two single-statement, autocommitted writes instead of two ORM transactions of 3–4 statements each:
  1. the claim: ``UPDATE … SET check_attempts = check_attempts + 1 WHERE <guard> RETURNING body,
     check_attempts, <word-list version>`` (was UPDATE + SELECT + SELECT max(version) + COMMIT); being its own
     transaction it is still counted before the work (PITFALLS 1.2);
  2. the verdict: ``WITH rec AS (UPDATE … WHERE <guard> RETURNING id, <pending translation languages>),
     audit AS (INSERT INTO audit_events … SELECT … FROM rec WHERE :profane ON CONFLICT DO NOTHING)
     SELECT … FROM rec`` (was UPDATE + INSERT + SELECT + COMMIT), atomic as one statement;
- statements are ``text()`` compiled once, run on an AUTOCOMMIT engine sharing Parley's URL.
PostgreSQL only, like the production deployment; SQLite would keep today's path.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text

from core import db, pipeline, wordlists
from core.models import Status, TranslationStatus, utcnow

logger = logging.getLogger("core.pipeline")

CLAIM = text(
    "UPDATE comments SET check_attempts = check_attempts + 1, updated_at = :now "
    "WHERE id = :cid AND checked_at IS NULL AND status = :pending AND decision IS NULL "
    "AND NOT (check_attempts >= :max AND updated_at > :busy_since) "
    "RETURNING body, check_attempts, (SELECT coalesce(max(id), 0) FROM wordlist_versions)"
)
RECORD = text(
    "WITH rec AS ("
    " UPDATE comments SET status = :status, censored_body = :censored, matched_words = CAST(:words AS JSON),"
    " checked_at = :now, flagged_at = :flagged_at, updated_at = :now"
    " WHERE id = :cid AND checked_at IS NULL AND status = :pending AND decision IS NULL"
    " RETURNING id, (SELECT string_agg(t.lang, ',') FROM translations t"
    "               WHERE t.comment_id = comments.id AND t.status = :t_pending) AS langs"
    "), audit AS ("
    " INSERT INTO audit_events (comment_id, kind, action, actor, reason, detail, dedupe_key, redacted, at)"
    " SELECT id, 'system', 'flagged', 'system', NULL, CAST(:detail AS JSON), :dedupe, false, :now FROM rec"
    " WHERE :profane ON CONFLICT (dedupe_key) DO NOTHING"
    ") SELECT id, langs FROM rec"
)

_lock = threading.Lock()
_engine: tuple[int, Engine] | None = None


def autocommit_engine() -> Engine:
    """Return this process's AUTOCOMMIT engine on Parley's database (created after the fork)."""
    global _engine
    current = _engine
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _lock:
        if _engine is None or _engine[0] != os.getpid():
            url = db.engine().url
            # No pre-ping: a connection that died with PostgreSQL fails the claim before it counts an attempt,
            # SQLAlchemy then invalidates the pool and Dramatiq retries the message (min_backoff 1 s).
            engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_size=10,
                                   max_overflow=10, pool_timeout=5,
                                   connect_args={"connect_timeout": 3, "options": "-c timezone=UTC"})
            _engine = (os.getpid(), engine)
        return _engine[1]


def _engine_for(version: int) -> Any:
    """Return the profanity engine of word-list *version* (cached; loaded in its own session when new)."""
    cached = wordlists._latest
    if cached is not None and cached[0] == version:
        return cached[1]
    with db.session_scope() as session:
        return wordlists.current_engine(session)


def check_comment(comment_id: int, max_attempts: int, busy_for: timedelta = timedelta(0)) -> list[str]:
    """Check comment *comment_id*; return the languages to translate into (same contract as core.pipeline)."""
    now = utcnow()
    with autocommit_engine().connect() as connection:
        row = connection.execute(CLAIM, {"cid": comment_id, "now": now, "pending": Status.PENDING,
                                         "max": max_attempts, "busy_since": now - busy_for}).first()
        if row is None:
            logger.info("Comment %d needs no check (done, decided, held or unknown).", comment_id)
            return []
        body, attempts, version = row
        if attempts > max_attempts:
            with db.session_scope() as session:
                pipeline.hold_for_review(session, comment_id, f"profanity check failed {attempts - 1} times")
            return []
        verdict = _engine_for(version).check(body)
        now = utcnow()
        recorded = connection.execute(RECORD, {
            "cid": comment_id, "now": now, "pending": Status.PENDING, "t_pending": TranslationStatus.PENDING,
            "status": Status.FLAGGED if verdict.profane else Status.PUBLISHED, "censored": verdict.censored,
            "words": json.dumps(verdict.words), "flagged_at": now if verdict.profane else None,
            "profane": verdict.profane, "dedupe": f"flagged:{comment_id}",
            "detail": json.dumps({"words": verdict.words, "source": "body"}),
        }).first()
    if recorded is None:
        return []
    logger.info("Comment %d checked: %s", comment_id, "flagged" if verdict.profane else "published")
    return recorded[1].split(",") if recorded[1] else []
