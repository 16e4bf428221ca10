"""Replies: where a new reply attaches in its thread."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from core.comments.validation import NewComment
from core.errors import ValidationError
from core.storage.models import Action, Comment, Status

#: Parents a reply may not have: what a moderator refused and what its author took back.
_CLOSED = (Status.REJECTED, Status.DELETED)


def resolve_parent(session: Session, new: NewComment, max_depth: int) -> NewComment:
    """Return *new* attached to its parent at a depth of at most *max_depth* (a top-level comment is 0).

    A reply deeper than that attaches to its deepest allowed ancestor instead.
    Raises:
        ValidationError: (``fields.parent_id``) the parent is unknown, in another thread, rejected or deleted.
    """
    if new.parent_id is None:
        return new
    parent = session.get(Comment, new.parent_id)
    if parent is None or parent.thread != new.thread:
        raise _invalid("parent_id must be a comment of the same thread")
    if parent.status in _CLOSED or parent.decision == Action.REJECT:
        raise _invalid(f"comment {parent.id} is {parent.status} and takes no replies")
    while parent.depth >= max_depth and parent.parent_id is not None:
        ancestor = session.get(Comment, parent.parent_id)
        if ancestor is None:
            break
        parent = ancestor
    return replace(new, parent_id=parent.id, depth=min(parent.depth + 1, max_depth))


def _invalid(reason: str) -> ValidationError:
    return ValidationError("invalid comment", fields={"parent_id": reason})
