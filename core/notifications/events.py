"""State changes that raise webhook events from below ``moderation``: the author's delete of a comment."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.comments import authors
from core.notifications import outbox
from core.storage.models import Comment, Status


def delete_comment(session: Session, comment_id: int, token: str | None) -> Comment:
    """Erase the author's comment (``authors.delete``) and, the first time, write its ``comment.deleted`` rows.

    Send ``outbox.written(session)`` after the commit.
    """
    before = session.get(Comment, comment_id)
    already = before is not None and before.status == Status.DELETED
    comment = authors.delete(session, comment_id, token)
    if not already:
        outbox.record_event(session, outbox.DELETED, comment_id)
    return comment
