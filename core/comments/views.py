"""The JSON views of a comment: what the public, its author before storage, and a moderator see."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.comments import matches
from core.comments.reading import is_visible, looks_pending
from core.comments.validation import NewComment
from core.storage.models import Comment, Status, TranslationStatus


def iso(value: Any) -> str | None:
    """Format a datetime as ISO 8601 UTC with a Z suffix (SQLite returns naive UTC values)."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def public_view(
    comment: Comment, policy: str, langs: tuple[str, ...] | None = None, reply_count: int = 0
) -> dict[str, Any]:
    """Return what anyone may see of *comment*: body and translation texts only when visible.

    A deleted comment shows neither body nor author; a held or honeypot comment looks pending (nothing tips off
    a bot or a spammer).
    """
    visible = is_visible(comment, policy)
    body: str | None = None
    if visible:
        body = comment.censored_body if comment.status == Status.FLAGGED else comment.body
    # A flagged comment shown censored keeps its translations hidden: they were not censored.
    show_text = visible and comment.status == Status.PUBLISHED
    translations = {
        t.lang: {"status": t.status, "text": t.text if show_text and t.status == TranslationStatus.DONE else None}
        for t in comment.translations
        if langs is None or t.lang in langs
    }
    return {
        "id": comment.id,
        "thread": comment.thread,
        "author": None if comment.status == Status.DELETED else public_author(comment),
        "lang": comment.lang,
        "status": Status.PENDING if looks_pending(comment, policy) else comment.status,
        "body": body,
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "translations": translations,
        "parent_id": comment.parent_id,
        "reply_count": reply_count,
        "version": comment.version,
        "edited_at": iso(comment.edited_at),
        # Additions go last: clients may rely on the documented order of the fields above.
        "lang_detected": bool(comment.lang_detected),
    }


def own_view(comment: Comment, policy: str, reply_count: int = 0) -> dict[str, Any]:
    """Return ``public_view`` as the comment's author sees it: their own body even while pending or flagged."""
    view = public_view(comment, policy, reply_count=reply_count)
    if comment.status != Status.DELETED:
        view["body"] = comment.body
    view["own"] = True
    return view


def public_author(comment: Comment) -> str:
    """Return the author name as anyone sees it: censored while a name that matched is not approved."""
    match = matches.author_match(comment.matched_words)
    if match is None or comment.status == Status.PUBLISHED:
        return comment.author
    return str(match.get("censored") or "****")


def pending_view(comment_id: int, new: NewComment, langs: Sequence[str], now: datetime) -> dict[str, Any]:
    """Return ``public_view`` of the comment *new* just stored as *comment_id* at *now*, without loading it."""
    # A pending comment is visible under no policy: no body, and no translation text yet.
    stamp = iso(now)
    return {
        "id": comment_id,
        "thread": new.thread,
        "author": new.author,
        "lang": new.lang,
        "status": Status.PENDING,
        "body": None,
        "created_at": stamp,
        "updated_at": stamp,
        "translations": {lang: {"status": TranslationStatus.PENDING, "text": None} for lang in langs},
        "parent_id": new.parent_id,
        "reply_count": 0,
        "version": 1,
        "edited_at": None,
        "lang_detected": False,
    }


def full_view(comment: Comment) -> dict[str, Any]:
    """Return everything a moderator sees of *comment*."""
    view = public_view(comment, "censor")
    view["status"] = comment.status
    view["honeypot"] = comment.honeypot
    view["author"] = comment.author
    view["body"] = comment.body
    view["censored_body"] = comment.censored_body
    view["matched_words"] = matches.body_words(comment.matched_words)
    author = matches.author_match(comment.matched_words)
    view["author_flagged"] = author is not None
    view["author_matched_words"] = list(author["words"]) if author else []
    view["censored_author"] = author["censored"] if author else None
    view["check_error"] = comment.check_error
    view["held"] = bool(comment.held)
    view["signals"] = comment.signals or {}
    view["flag_reasons"] = comment.flag_reasons or []
    view["model_score"] = comment.model_score
    view["translations"] = {
        t.lang: {"status": t.status, "text": t.text, "reason": t.reason, "matched_words": t.matched_words or []}
        for t in comment.translations
    }
    view["decision"] = (
        {
            "action": comment.decision,
            "reason": comment.decision_reason,
            "moderator": comment.decided_by,
            "at": iso(comment.decided_at),
        }
        if comment.decision
        else None
    )
    return view
