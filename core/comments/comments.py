"""Comment operations for the public side: validate and create, read, list a thread."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from core.comments.text import clean_field
from core.config import Settings
from core.errors import NotFound, ValidationError
from core.languages import normalize_language
from core.storage.models import MAX_ID, Comment, Status, Translation, TranslationStatus, utcnow

#: The only request fields a client may set; anything else is ignored, never applied.
ACCEPTED_FIELDS = ("thread", "author", "body", "lang")
MAX_THREAD_CHARS = 200
MAX_AUTHOR_CHARS = 100
MAX_PAGE = 100

_comments = Comment.__table__
#: Note the confirmed check messages of many comments at once. Rows are named by (id, created_at): a late mark
#: must never land on another comment that reused the id (SQLite hands out the highest rowid again after a
#: delete). updated_at is left alone: the mark is bookkeeping, not progress, and it may now land after the
#: check has run, whose time updated_at keeps (the claim and the re-dispatch read it; the public sees it).
MARK_DISPATCHED = (
    update(_comments)
    .where(tuple_(_comments.c.id, _comments.c.created_at).in_(bindparam("keys", expanding=True)))
    .values(
        dispatched_at=bindparam("now"),
        dispatch_attempts=_comments.c.dispatch_attempts + 1,
        updated_at=_comments.c.updated_at,
    )
)


@dataclass(frozen=True)
class NewComment:
    """A validated comment, ready to store."""

    thread: str
    author: str
    body: str
    lang: str | None


def validate(data: Any, settings: Settings) -> NewComment:
    """Check and normalise a decoded JSON request; raise ValidationError listing every bad field."""
    if not isinstance(data, Mapping):
        raise ValidationError("request body must be a JSON object")
    errors: dict[str, str] = {}
    thread, errors["thread"] = clean_field(data.get("thread"), name="thread", max_chars=MAX_THREAD_CHARS)
    if thread is not None and any(char.isspace() for char in thread):
        thread, errors["thread"] = None, "thread must not contain whitespace"
    author, errors["author"] = clean_field(data.get("author"), name="author", max_chars=MAX_AUTHOR_CHARS)
    body, errors["body"] = clean_field(
        data.get("body"), name="body", max_chars=settings.max_comment_chars, multiline=True
    )
    lang: str | None = None
    raw_lang = data.get("lang")
    if raw_lang is not None:
        if not isinstance(raw_lang, str):
            errors["lang"] = "lang must be a string"
        elif raw_lang.strip():
            lang = normalize_language(raw_lang)
            if lang is None:
                errors["lang"] = f"unsupported language code {raw_lang[:20]!r}"
    errors = {name: reason for name, reason in errors.items() if reason}
    if errors:
        raise ValidationError("invalid comment", fields=errors)
    return NewComment(thread=thread, author=author, body=body, lang=lang)  # type: ignore[arg-type]


def translation_langs(targets: Iterable[str], lang: str | None) -> tuple[str, ...]:
    """Return the languages a comment in *lang* is translated into, in the order its view lists them."""
    return tuple(sorted(target for target in targets if target != lang))


def create(session: Session, new: NewComment, targets: tuple[str, ...], now: datetime | None = None) -> Comment:
    """Add a pending comment and one pending translation per target that differs from its language."""
    now = now or utcnow()
    comment = Comment(thread=new.thread, author=new.author, body=new.body, lang=new.lang, status=Status.PENDING,
                      created_at=now, updated_at=now)
    comment.translations = [
        Translation(lang=lang, created_at=now, updated_at=now) for lang in translation_langs(targets, new.lang)
    ]
    session.add(comment)
    session.flush()
    return comment


def mark_dispatched(connection: Connection, keys: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """Record that the broker confirmed the check messages of the comments *keys* (id, created_at)."""
    return connection.execute(MARK_DISPATCHED, {"keys": list(keys), "now": now}).rowcount


def get(session: Session, comment_id: int) -> Comment:
    """Return comment *comment_id* with its translations; raise NotFound."""
    comment = session.get(Comment, comment_id, options=[selectinload(Comment.translations)])
    if comment is None:
        raise NotFound(f"comment {comment_id} does not exist")
    return comment


def encode_cursor(last_id: int) -> str:
    """Return an opaque cursor that continues after *last_id*."""
    return base64.urlsafe_b64encode(f"c1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Return the id a cursor continues after (0 for none); raise ValidationError on junk."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        prefix, _, value = raw.partition(":")
        last_id = int(value)
        if prefix != "c1" or not 0 <= last_id <= MAX_ID or len(cursor) > 40:
            raise ValueError(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError("invalid cursor", fields={"cursor": "not a cursor returned by this API"}) from None
    return last_id


def parse_limit(raw: str | None, default: int = 20) -> int:
    """Return the page size asked for; raise ValidationError unless it is 1..MAX_PAGE."""
    if raw is None or raw == "":
        return default
    # isdigit() alone also accepts "²" and "١٠", which int() refuses or reads; and int() refuses 4300+ digits.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= MAX_PAGE):
        raise ValidationError("invalid limit", fields={"limit": f"limit must be an integer from 1 to {MAX_PAGE}"})
    return int(raw)


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
        .limit(limit + 1)
        .options(selectinload(Comment.translations))
    )
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def iso(value: Any) -> str | None:
    """Format a datetime as ISO 8601 UTC with a Z suffix (SQLite returns naive UTC values)."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def public_view(comment: Comment, policy: str, langs: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Return what anyone may see of *comment*: body and translation texts only when visible."""
    visible = comment.status in visible_statuses(policy)
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
        "author": comment.author,
        "lang": comment.lang,
        "status": comment.status,
        "body": body,
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "translations": translations,
    }


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
    }


def full_view(comment: Comment) -> dict[str, Any]:
    """Return everything a moderator sees of *comment*."""
    view = public_view(comment, "censor")
    view["body"] = comment.body
    view["censored_body"] = comment.censored_body
    view["matched_words"] = comment.matched_words or []
    view["check_error"] = comment.check_error
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
