"""Prototype of the proposed ``POST /api/comments``: ``gunicorn 'bench.prototypes.fast_web:create_app()'``.

Parley's own app with only the view of ``POST /api/comments`` replaced. Same validation, rate limit, response
and commit-before-send; what changes (see docs/BENCHMARKS.md, "Proposed fixes"):
- the rate-limit count, the comment and its pending translations are written by ONE statement
  (``WITH hit AS (INSERT … ON CONFLICT DO UPDATE … RETURNING count), c AS (INSERT INTO comments … SELECT …
  WHERE hit.count <= :limit RETURNING …), t AS (INSERT INTO translations … FROM c, unnest(:langs)) SELECT …``),
  autocommitted: atomic, durable at 202, one round trip instead of ORM flushes of 3–4 statements + COMMIT;
- one pool checkout (one pre-ping) per request instead of two (the session let go of its connection at commit);
- ``mark_dispatched`` is no longer a second transaction in the request: confirmed ids are written by a
  background thread every 50 ms in one ``UPDATE … WHERE id IN (…)``. A crash in between only means the
  scheduler re-sends the check after UNDISPATCHED_GRACE (10 s): a duplicate message, which the actor ignores.
PostgreSQL only, like the production deployment; SQLite would keep today's path.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from flask import Flask, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, bindparam, create_engine, text, update
from sqlalchemy.exc import SQLAlchemyError

from core import comments, db
from core.dispatch import get_dispatcher
from core.errors import RateLimited
from core.models import Comment, Status, TranslationStatus, utcnow
from webapp import create_app as parley_app
from webapp.api import read_json, settings
from webapp.metrics import DISPATCH_FAILURES

logger = logging.getLogger(__name__)

comments_t = Comment.__table__
ACCEPT = text(
    "WITH hit AS ("
    " INSERT INTO rate_limits (key, \"window\", count) VALUES (:key, :window, 1)"
    " ON CONFLICT (key, \"window\") DO UPDATE SET count = rate_limits.count + 1 RETURNING count"
    "), c AS ("
    " INSERT INTO comments (thread, author, body, lang, status, check_attempts, dispatch_attempts, redispatches,"
    "                       created_at, updated_at)"
    " SELECT :thread, :author, :body, :lang, :pending, 0, 0, 0, :now, :now FROM hit WHERE hit.count <= :limit"
    " RETURNING id"
    "), t AS ("
    " INSERT INTO translations (comment_id, lang, status, attempts, redispatches, created_at, updated_at)"
    " SELECT c.id, l, :t_pending, 0, 0, :now, :now FROM c, unnest(CAST(:langs AS varchar[])) AS l"
    ") SELECT (SELECT count FROM hit), (SELECT id FROM c)"
)
FORGET = text('DELETE FROM rate_limits WHERE key = :key AND "window" < :window')
MARK = (
    update(comments_t).where(comments_t.c.id.in_(bindparam("ids", expanding=True)))
    .values(dispatched_at=bindparam("now"), dispatch_attempts=comments_t.c.dispatch_attempts + 1)
)
NO_LIMIT = 2**31 - 1

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
            engine = create_engine(db.engine().url, isolation_level="AUTOCOMMIT", pool_pre_ping=True, pool_size=10,
                                   max_overflow=10, pool_timeout=5,
                                   connect_args={"connect_timeout": 3, "options": "-c timezone=UTC"})
            _engine = (os.getpid(), engine)
        return _engine[1]


class DispatchMarks:
    """Confirmed dispatches, written in batches by one thread per process (started after the fork)."""

    def __init__(self, interval: float = 0.05) -> None:
        """Flush every *interval* seconds."""
        self.interval = interval
        self.pending: list[int] = []
        self.lock = threading.Lock()
        self.pid = 0

    def add(self, comment_id: int) -> None:
        """Queue *comment_id* for the next batch."""
        with self.lock:
            self.pending.append(comment_id)
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self._run, name="dispatch-marks", daemon=True).start()

    def _run(self) -> None:
        """Flush forever."""
        while True:
            time.sleep(self.interval)
            with self.lock:
                ids, self.pending = self.pending, []
            if not ids:
                continue
            try:
                with db.engine().begin() as connection:
                    connection.execute(MARK, {"ids": ids, "now": utcnow()})
            except SQLAlchemyError as exc:  # the scheduler's re-dispatch covers what was not marked
                logger.warning("Could not mark %d comments dispatched: %s", len(ids), exc)


MARKS = DispatchMarks()


def post_comment() -> ResponseReturnValue:
    """Accept a comment for moderation (prototype of the proposed view)."""
    config = settings()
    new = comments.validate(read_json(), config)
    now = utcnow()
    langs = [target for target in config.translation_targets if target != new.lang]
    key, window = f"post:{request.remote_addr}", int(time.time() // 60)
    limit = config.rate_limit_per_minute or NO_LIMIT
    with autocommit_engine().connect() as connection:
        count, comment_id = connection.execute(ACCEPT, {
            "key": key, "window": window, "limit": limit, "thread": new.thread, "author": new.author,
            "body": new.body, "lang": new.lang, "pending": Status.PENDING, "t_pending": TranslationStatus.PENDING,
            "now": now, "langs": langs,
        }).one()
        if count == 1:  # first event of a new window: forget this key's old windows
            connection.execute(FORGET, {"key": key, "window": window})
    if comment_id is None:
        raise RateLimited(retry_after=max(1, int((window + 1) * 60 - time.time()) + 1))
    if get_dispatcher(config).send_check(comment_id):
        MARKS.add(comment_id)
    else:
        DISPATCH_FAILURES.inc()
    stamp = comments.iso(now)
    view: dict[str, Any] = {
        "id": comment_id, "thread": new.thread, "author": new.author, "lang": new.lang, "status": Status.PENDING,
        "body": None, "created_at": stamp, "updated_at": stamp,
        "translations": {lang: {"status": TranslationStatus.PENDING, "text": None} for lang in sorted(langs)},
    }
    response = jsonify(view)
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_comment", comment_id=comment_id)
    return response


def create_app() -> Flask:
    """Return Parley's app with the prototype view of ``POST /api/comments``."""
    app = parley_app()
    app.view_functions["api.post_comment"] = post_comment
    return app
