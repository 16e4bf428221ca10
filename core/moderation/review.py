"""The moderators' queue: filter, search and page through comments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from core.comments.validation import MAX_THREAD_CHARS
from core.errors import ValidationError
from core.storage import paging
from core.storage.models import Comment, Status

ALL = "all"
UNDECIDED = "undecided"
MAX_QUERY = 200


@dataclass(frozen=True)
class Filter:
    """Which comments the queue shows: a status (or all), a thread, a text search."""

    status: str = Status.FLAGGED
    thread: str | None = None
    q: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the filter as query parameters."""
        return {k: v for k, v in {"status": self.status, "thread": self.thread, "q": self.q}.items() if v}


def _text(args: Any, name: str) -> str:
    """Return parameter *name* of *args* stripped ("" when absent); raise ValidationError unless it is a string."""
    value = args.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):  # a JSON filter may hold numbers, lists or objects
        raise ValidationError(f"invalid {name}", fields={name: "a string"})
    return value.strip()


def parse_filter(args: Any) -> Filter:
    """Build a Filter from request parameters or a JSON object; raise ValidationError on bad values."""
    status = _text(args, "status").lower() or Status.FLAGGED
    if status not in (*Status.ALL, ALL, UNDECIDED):
        raise ValidationError("invalid status", fields={"status": f"one of {', '.join((*Status.ALL, ALL))}"})
    thread = _text(args, "thread") or None
    q = _text(args, "q") or None
    if thread and (len(thread) > MAX_THREAD_CHARS or "\x00" in thread):
        raise ValidationError("invalid thread", fields={"thread": "at most 200 characters, no NUL"})
    if q and (len(q) > MAX_QUERY or "\x00" in q):
        raise ValidationError("invalid search", fields={"q": f"at most {MAX_QUERY} characters, no NUL"})
    return Filter(status=status, thread=thread, q=q)


def _escape_like(value: str) -> str:
    """Escape LIKE wildcards so a search for "50%" means exactly that."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def query(flt: Filter) -> Select:
    """Return the SELECT of comments matching *flt*, oldest first (the review order)."""
    statement = select(Comment)
    if flt.status == UNDECIDED:
        statement = statement.where(Comment.decision.is_(None), Comment.status != Status.PENDING)
    elif flt.status != ALL:
        statement = statement.where(Comment.status == flt.status)
    if flt.thread:
        statement = statement.where(Comment.thread == flt.thread)
    if flt.q:
        pattern = f"%{_escape_like(flt.q)}%"
        statement = statement.where(
            Comment.body.ilike(pattern, escape="\\") | Comment.author.ilike(pattern, escape="\\")
        )
    return statement.order_by(Comment.id)


def page(session: Session, flt: Filter, *, limit: int, after_id: int) -> tuple[list[Comment], int | None]:
    """Return one page of the queue and the id to continue after."""
    statement = query(flt).where(Comment.id > after_id).options(selectinload(Comment.translations))
    return paging.page(session, statement, limit)


def matching_ids(session: Session, flt: Filter, limit: int) -> list[int]:
    """Return up to *limit* ids matching *flt* (for a bulk decision on a whole filter)."""
    return list(session.scalars(query(flt).with_only_columns(Comment.id).limit(limit)))


def count(session: Session, flt: Filter) -> int:
    """Return how many comments match *flt*."""
    return session.scalar(select(func.count()).select_from(query(flt).order_by(None).subquery())) or 0


def status_counts(session: Session) -> dict[str, int]:
    """Return how many comments each status has, plus the total under ALL."""
    counts: dict[str, int] = dict(session.execute(select(Comment.status, func.count()).group_by(Comment.status)).all())
    counts[ALL] = sum(counts.values())
    return counts
