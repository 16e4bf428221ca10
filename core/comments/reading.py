"""Read comments: one with its translations, a thread's visible page, reply and thread counts, pending translations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, exists, func, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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
    """Tell whether the public sees *comment*'s text: never while held by a signal (whatever the policy), and a
    honeypot comment only once a moderator approved it."""
    if comment.held or (comment.honeypot and comment.status != Status.PUBLISHED):
        return False
    return comment.status in visible_statuses(policy)


def visible(policy: str, table: type[Comment] = Comment) -> ColumnElement[bool]:
    """Return the condition ``is_visible`` checks, in SQL, on *table* (Comment or an alias of it)."""
    shown = table.status.in_(visible_statuses(policy))
    return and_(shown, table.held.is_(False), or_(table.honeypot.is_(False), table.status == Status.PUBLISHED))


def looks_pending(comment: Comment, policy: str) -> bool:
    """Tell whether the public view shows *comment* as pending: held or a bot's, nothing tips its author off."""
    return (comment.held or comment.honeypot) and comment.status != Status.DELETED and not is_visible(comment, policy)


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


class stamp_checksum(FunctionElement):  # noqa: N801 (a SQL function's name)
    """A timestamp column as microseconds since the epoch modulo 10**9: summed, any row's change moves the sum."""

    type = BigInteger()
    inherit_cache = True


@compiles(stamp_checksum, "postgresql")
def _stamp_checksum_pg(element: stamp_checksum, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    # MOD(), not %: the driver's paramstyle would read a % as a placeholder.
    return f"MOD(CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT), 1000000000)"


@compiles(stamp_checksum, "sqlite")
def _stamp_checksum_sqlite(element: stamp_checksum, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds from strftime, microseconds from the text.
    column = compiler.process(element.clauses, **kw)
    micros = f"CAST(strftime('%s', {column}) AS INTEGER) * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER)"
    return f"(({micros}) % 1000000000)"


def thread_version(session: Session, thread: str) -> tuple:
    """Return what changes whenever a thread's listing may: counts, top id, stamps of its comments and translations.

    Every write a reader can see stamps updated_at (comments or translations) or adds or deletes rows. The sum of
    the stamps moves too when a write commits after a later-stamped one, which the maximum alone would miss.
    """
    comments = (
        select(func.count(), func.max(Comment.id), func.max(Comment.updated_at),
               func.coalesce(func.sum(stamp_checksum(Comment.updated_at)), 0))
        .where(Comment.thread == thread)
        .subquery()
    )
    translations = (
        select(func.count(), func.max(Translation.updated_at),
               func.coalesce(func.sum(stamp_checksum(Translation.updated_at)), 0))
        .join(Comment, Comment.id == Translation.comment_id)
        .where(Comment.thread == thread)
        .subquery()
    )
    row = session.execute(select(comments, translations).select_from(comments.join(translations, true()))).one()
    return tuple(str(value) for value in row)


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
