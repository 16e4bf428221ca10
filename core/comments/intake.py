"""Store a posted comment: the portable ORM write, and PostgreSQL's one autocommitted statement beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from core import ratelimit
from core.comments.validation import NewComment, translation_langs
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation, TranslationStatus, utcnow
from core.storage.prepared import Prepared


def comment_row(new: NewComment, now: datetime) -> dict[str, Any]:
    """Return the columns of a new comment's row: both writes below take them from here."""
    return {"thread": new.thread, "author": new.author, "body": new.body, "lang": new.lang,
            # A honeypot comment is held at once: never checked, never shown (see docs: the widget's hidden field).
            "status": Status.FLAGGED if new.honeypot else Status.PENDING,
            "flagged_at": now if new.honeypot else None, "check_error": "honeypot" if new.honeypot else None,
            "parent_id": new.parent_id, "depth": new.depth, "email": new.email, "notify_replies": new.notify_replies,
            "author_token_hash": new.author_token_hash, "honeypot": new.honeypot, "version": 1,
            "check_attempts": 0, "dispatch_attempts": 0, "redispatches": 0, "created_at": now, "updated_at": now,
            "fingerprint": new.fingerprint, "client_hash": new.client_hash, "held": new.honeypot,
            # Only a honeypot comment (always stored by the session path) has signals at intake; the others get
            # theirs from the check, and SQL NULL meanwhile.
            **({"signals": {"honeypot": True}, "flag_reasons": ["honeypot"]} if new.honeypot else {})}


def translation_row(lang: str, now: datetime, version: int = 1) -> dict[str, Any]:
    """Return the columns of a new pending translation's row (its comment_id comes from the comment)."""
    return {"lang": lang, "version": version, "status": TranslationStatus.PENDING, "attempts": 0, "redispatches": 0,
            "created_at": now, "updated_at": now}


def _sql_types(table: Table, columns: Iterable[str], prefix: str) -> dict[str, str]:
    """Return the PostgreSQL type of each of *columns*, keyed by its parameter name (*prefix* + column)."""
    return {prefix + name: table.c[name].type.compile(dialect=postgresql.dialect()) for name in columns}


_NEW = NewComment(thread="", author="", body="", lang=None)
_C_TYPES = _sql_types(Comment.__table__, comment_row(_NEW, utcnow()), "c_")
_T_TYPES = _sql_types(Translation.__table__, [c for c in translation_row("", utcnow()) if c != "lang"], "t_")
#: The comment and its pending translations, stored only when the hit passed; then the count and the id.
#: The column lists come from comment_row and translation_row, so a new column is added in one place.
_STORE = (
    f"c AS (INSERT INTO comments ({', '.join(p[2:] for p in _C_TYPES)})"
    f" SELECT {', '.join(':' + p for p in _C_TYPES)} FROM hit RETURNING id"
    f"), t AS (INSERT INTO translations (comment_id, lang, {', '.join(p[2:] for p in _T_TYPES)})"
    f" SELECT c.id, l, {', '.join(':' + p for p in _T_TYPES)} FROM c, unnest(CAST(:langs AS varchar[])) AS l"
    ") SELECT (SELECT count FROM hit), (SELECT id FROM c)"
)
_TYPES = {**_C_TYPES, **_T_TYPES, "langs": "varchar[]"}
#: Count the hit and store the comment: atomic and durable together, one round trip (no BEGIN, no COMMIT).
#: A hit over the limit updates nothing and returns no row, so a refused request stores nothing at all,
#: exactly as the session path, which rolls the refused hit back.
ACCEPT_LIMITED = Prepared("parley_accept_limited", (
    "WITH hit AS ("
    ' INSERT INTO rate_limits (key, "window", count) VALUES (:key, :window, 1)'
    ' ON CONFLICT (key, "window") DO UPDATE SET count = rate_limits.count + 1 WHERE rate_limits.count < :limit'
    " RETURNING count"
    "), " + _STORE
), {**{"key": "varchar", "window": "integer", "limit": "integer"}, **_TYPES})
#: Without a rate limit nothing is counted, as on the session path: a constant hit that always passes.
ACCEPT = Prepared("parley_accept", "WITH hit AS (SELECT 1 AS count), " + _STORE, _TYPES)


def accept(new: NewComment, langs: Sequence[str], *, key: str, limit: int, now: datetime) -> int:
    """Store *new* with a pending translation per *langs*, counting a hit on *key*; return its id.

    Parameters:
        limit: events allowed per key and minute; 0 means no limit (and no hit is counted).
    Raises:
        RateLimited: over the limit; nothing is stored (the refused hit is not counted).
        SQLAlchemyError: the database failed; nothing is stored, or the statement's outcome is unknown.
    """
    clock, window = ratelimit.window_now()
    params = {
        "key": key, "window": window, "limit": limit, "langs": list(langs),
        **{f"c_{name}": value for name, value in comment_row(new, now).items()},
        **{f"t_{name}": value for name, value in translation_row("", now).items() if name != "lang"},
    }
    with db.autocommit() as connection:
        # EXECUTE names only the statement's own parameters: ACCEPT ignores key, window and limit.
        _count, comment_id = (ACCEPT_LIMITED if limit else ACCEPT).execute(connection, params).one()
    if comment_id is None:
        raise ratelimit.refusal(clock, window)
    return comment_id


def create(session: Session, new: NewComment, targets: tuple[str, ...], now: datetime | None = None) -> Comment:
    """Add a pending comment and one pending translation per target that differs from its language."""
    now = now or utcnow()
    comment = Comment(**comment_row(new, now))
    comment.translations = [Translation(**translation_row(lang, now)) for lang in translation_langs(targets, new.lang)]
    session.add(comment)
    session.flush()
    return comment


def store(new: NewComment, langs: tuple[str, ...], *, key: str, limit: int, now: datetime,
          session: Callable[[], Session], also: Callable[[Session, Comment], object] | None = None) -> int:
    """Store *new* durably, counting a hit on *key* against *limit*; return its id (RateLimited when over it).

    On PostgreSQL: one autocommitted statement. On SQLite (no unnest(), no data-modifying CTEs) the
    session *session()* returns, committed here: its single writer takes one short transaction either way.
    A honeypot comment (rare) takes the session path on both, with its audit event; so does a comment with
    *also*, more writes in the same transaction (a new address's confirmation mail in the outbox).
    """
    if db.is_postgresql() and not new.honeypot and also is None:
        return accept(new, langs, key=key, limit=limit, now=now)
    current = session()
    if limit:
        ratelimit.hit(current, key, limit)
    comment = create(current, new, langs, now)
    if new.honeypot:
        # Held at once with its reason in the log, like a check's flag: no check is ever sent for it.
        current.add(AuditEvent(comment_id=comment.id, kind="system", action="honeypot", actor="system",
                               dedupe_key=f"honeypot:{comment.id}", at=now))
    if also is not None:
        also(current, comment)
    current.commit()
    return comment.id
