"""Read comments: one with its translations, a thread's visible page, the translations still pending."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.errors import NotFound
from core.storage import paging
from core.storage.models import Comment, Status, Translation, TranslationStatus


def get(session: Session, comment_id: int) -> Comment:
    """Return comment *comment_id* with its translations; raise NotFound."""
    comment = session.get(Comment, comment_id, options=[selectinload(Comment.translations)])
    if comment is None:
        raise NotFound(f"comment {comment_id} does not exist")
    return comment


def visible_statuses(policy: str) -> tuple[str, ...]:
    """Return the statuses the public may see under moderation *policy*."""
    return (Status.PUBLISHED, Status.FLAGGED) if policy == "censor" else (Status.PUBLISHED,)


def list_thread(
    session: Session, thread: str, *, policy: str, limit: int, after_id: int
) -> tuple[list[Comment], int | None]:
    """Return one page of a thread's visible comments, oldest first, and the id to continue after."""
    query = (
        select(Comment)
        .where(Comment.thread == thread, Comment.status.in_(visible_statuses(policy)), Comment.id > after_id)
        .order_by(Comment.id)
        .options(selectinload(Comment.translations))
    )
    return paging.page(session, query, limit)


def pending_translations(session: Session, comment_id: int) -> list[str]:
    """Return the target languages of *comment_id* still waiting for a translation."""
    return list(
        session.scalars(
            select(Translation.lang).where(
                Translation.comment_id == comment_id, Translation.status == TranslationStatus.PENDING
            )
        )
    )
