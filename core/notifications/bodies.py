"""The body of a webhook delivery: the event and the comment's public view, read in one Core statement.

No ORM objects: hydrating a comment with its translations cost more worker CPU than the rest of a delivery.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import aliased

from core.comments import reading, views
from core.storage.models import Comment, Translation

#: What ``views.public_view`` reads of a comment.
COLUMNS = ("id", "thread", "author", "body", "lang", "lang_detected", "status", "honeypot", "held", "censored_body",
           "matched_words", "created_at", "updated_at", "parent_id", "version", "edited_at")
_comments, _translations = Comment.__table__, Translation.__table__


@functools.cache
def _statement(policy: str) -> Select[Any]:
    """Return the statement (built once per policy): the columns and visible direct replies' count of the comments
    ``cids`` names, once per translation (lang, status, text), or once with nulls for a comment with none."""
    reply = aliased(Comment)
    replies = (select(func.count()).where(reply.parent_id == _comments.c.id, reading.visible(policy, reply))
               .correlate(_comments).scalar_subquery())
    return (select(*(_comments.c[name] for name in COLUMNS), replies.label("reply_count"),
                   _translations.c.lang.label("t_lang"), _translations.c.status.label("t_status"),
                   _translations.c.text.label("t_text"))
            .select_from(_comments.outerjoin(_translations, _translations.c.comment_id == _comments.c.id))
            .where(_comments.c.id.in_(bindparam("cids", expanding=True))))


def public_view(connection: Connection, comment_id: int, policy: str) -> dict[str, Any] | None:
    """Return the public view of comment *comment_id* with its reply count, or None if there is no such comment."""
    return public_views(connection, [comment_id], policy).get(comment_id)


def public_views(connection: Connection, comment_ids: Iterable[int], policy: str) -> dict[int, dict[str, Any]]:
    """Return the public views of the comments *comment_ids* that exist, by id, in one statement."""
    by_comment: dict[int, list[Row[Any]]] = {}
    for row in connection.execute(_statement(policy), {"cids": sorted(set(comment_ids))}):
        by_comment.setdefault(row.id, []).append(row)
    return {comment_id: _view(rows, policy) for comment_id, rows in by_comment.items()}


def _view(rows: Sequence[Row[Any]], policy: str) -> dict[str, Any]:
    """Return the public view of one comment from its rows of the statement (one per translation)."""
    first = rows[0]._mapping
    translations = sorted((SimpleNamespace(lang=row.t_lang, status=row.t_status, text=row.t_text)
                           for row in rows if row.t_lang is not None), key=lambda t: t.lang)
    comment = SimpleNamespace(**{name: first[name] for name in COLUMNS}, translations=translations)
    return views.public_view(comment, policy, reply_count=first["reply_count"])  # type: ignore[arg-type]


def body(connection: Connection, message_id: str, event: str, created_at: Any, comment_id: int | None,
         policy: str) -> dict[str, Any]:
    """Return a delivery's body: ``{"id", "event", "created_at", "comment": <public view or None>}``."""
    view = public_view(connection, comment_id, policy) if comment_id is not None else None
    return of(message_id, event, created_at, view)


def of(message_id: str, event: str, created_at: Any, view: dict[str, Any] | None) -> dict[str, Any]:
    """Return a delivery's body with the comment's public *view* read already."""
    return {"id": message_id, "event": event, "created_at": views.iso(created_at), "comment": view}
