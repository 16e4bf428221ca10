"""The author's side of a comment: the token shown once, proving ownership, and deleting one's own comment."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from core.comments.reading import get
from core.errors import Forbidden
from core.storage.models import AuditEvent, Comment, Status, Translation, utcnow

#: Who the audit log names for what an author did with their token.
AUTHOR = "author"


def new_token() -> tuple[str, str]:
    """Return a new random author token and the SHA-256 hex digest that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest of *token*."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def owns(comment: Comment, token: str | None) -> bool:
    """Tell whether *token* is *comment*'s author token (a constant-time comparison of the hashes)."""
    if not token or not comment.author_token_hash:
        return False
    return hmac.compare_digest(hash_token(token), comment.author_token_hash)


def check_owner(comment: Comment, token: str | None) -> None:
    """Raise Forbidden unless *token* is *comment*'s author token."""
    if not owns(comment, token):
        raise Forbidden(f"missing or wrong author token for comment {comment.id}")


def audit(session: Session, comment: Comment, action: str, detail: dict | None = None) -> None:
    """Add a system event *action* done by the comment's author (no text: the log outlives the comment)."""
    session.add(AuditEvent(comment_id=comment.id, kind="system", action=action, actor=AUTHOR, detail=detail))


def delete(session: Session, comment_id: int, token: str | None, now: datetime | None = None) -> Comment:
    """Erase the body, author and email of the author's comment *comment_id*; repeating it changes nothing.

    The row stays with status ``deleted``: a thread shows it as a placeholder while it has visible replies.
    Its translations (texts of the body) go too; a moderator's decision, if any, is kept.
    Raises:
        NotFound: no such comment.
        Forbidden: missing or wrong *token*.
    """
    comment = get(session, comment_id)
    check_owner(comment, token)
    if comment.status == Status.DELETED:
        return comment
    now = now or utcnow()
    previous = comment.status
    session.execute(sql_delete(Translation).where(Translation.comment_id == comment_id))
    session.expire(comment, ["translations"])
    comment.status = Status.DELETED
    comment.body = comment.author = ""
    comment.email = comment.censored_body = comment.matched_words = None
    comment.notify_replies = False
    comment.deleted_at = comment.updated_at = now
    audit(session, comment, "deleted", {"previous_status": previous, "version": comment.version})
    session.flush()
    return comment
