"""Read comments: one with its translations, a thread's visible page, reply and thread counts, pending translations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from core.errors import NotFound
from core.storage import paging
from core.storage.models import Comment, Status, Translation, TranslationStatus


def get(session: Session, comment_id: int, *, lock: bool = False) -> Comment:
    """Return comment *comment_id* with its translations (*lock*: the row locked until commit); raise NotFound."""
    comment = session.get(Comment, comment_id, options=[selectinload(Comment.translations)],
                          with_for_update=lock, populate_existing=lock)
    if comment is None:
        raise NotFound(f"comment {comment_id} does not exist")
    return comment


def visible_statuses(policy: str) -> tuple[str, ...]:
    """Return the statuses the public may see under moderation *policy*."""
    return (Status.PUBLISHED, Status.FLAGGED) if policy == "censor" else (Status.PUBLISHED,)


def is_visible(comment: Comment, policy: str) -> bool:
    """Tell whether the public sees *comment*'s text: a honeypot comment only once a moderator approved it."""
    if comment.honeypot and comment.status != Status.PUBLISHED:
        return False
    return comment.status in visible_statuses(policy)


def visible(policy: str, table: type[Comment] = Comment) -> ColumnElement[bool]:
    """Return the condition ``is_visible`` checks, in SQL, on *table* (Comment or an alias of it)."""
    shown = table.status.in_(visible_statuses(policy))
    return and_(shown, or_(table.honeypot.is_(False), table.status == Status.PUBLISHED))


def placeholder(policy: str) -> ColumnElement[bool]:
    """Return the condition of a deleted comment still shown in its thread: it has a visible reply."""
    reply = aliased(Comment)
    return and_(Comment.status == Status.DELETED, exists().where(reply.parent_id == Comment.id, visible(policy, reply)))


def shows_placeholder(session: Session, comment: Comment, policy: str) -> bool:
    """Tell whether deleted *comment* stays in its thread (as a placeholder) because a reply is visible."""
    return comment.status == Status.DELETED and bool(reply_counts(session, [comment.id], policy))


def list_thread(
    session: Session, thread: str, *, policy: str, limit: int, after_id: int
) -> tuple[list[Comment], int | None]:
    """Return one page of a thread's visible comments and placeholders, oldest first, and the id to continue after."""
    query = (
        select(Comment)
        .where(Comment.thread == thread, or_(visible(policy), placeholder(policy)), Comment.id > after_id)
        .order_by(Comment.id)
        .options(selectinload(Comment.translations))
    )
    return paging.page(session, query, limit)


def reply_counts(session: Session, comment_ids: Sequence[int], policy: str) -> dict[int, int]:
    """Return the number of visible direct replies of each of *comment_ids* that has any."""
    if not comment_ids:
        return {}
    rows = session.execute(
        select(Comment.parent_id, func.count())
        .where(Comment.parent_id.in_(list(comment_ids)), visible(policy))
        .group_by(Comment.parent_id)
    )
    return {parent_id: count for parent_id, count in rows}


def thread_counts(session: Session, threads: Iterable[str], policy: str) -> dict[str, int]:
    """Return the number of visible comments of each of *threads* (0 for a thread without any)."""
    counts = dict.fromkeys(threads, 0)
    rows = session.execute(
        select(Comment.thread, func.count())
        .where(Comment.thread.in_(list(counts)), visible(policy))
        .group_by(Comment.thread)
    )
    counts.update({thread: count for thread, count in rows})
    return counts


def pending_translations(session: Session, comment_id: int) -> list[str]:
    """Return the target languages of *comment_id* still waiting for a translation."""
    return list(
        session.scalars(
            select(Translation.lang).where(
                Translation.comment_id == comment_id, Translation.status == TranslationStatus.PENDING
            )
        )
    )
