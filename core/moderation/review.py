"""The moderators' queue: filter (status, thread, text, reason held), search and page through comments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, cast, func, select
from sqlalchemy.orm import Session, selectinload

from core.comments import views
from core.comments.validation import MAX_THREAD_CHARS
from core.errors import ValidationError
from core.storage import paging
from core.storage.models import Comment, Status

ALL = "all"
UNDECIDED = "undecided"
MAX_QUERY = 200
#: The reasons a comment is held for (the contract's signal names), in the order the filter lists them.
REASONS = ("profanity", "model", "links", "duplicate", "burst", "honeypot", "banned")
#: A reason the filter accepts: the known ones, and any future signal name of the same shape.
_REASON = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class Filter:
    """Which comments the queue shows: a status (or all), a thread, a text search, a reason they were held for."""

    status: str = Status.FLAGGED
    thread: str | None = None
    q: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the filter as query parameters."""
        values = {"status": self.status, "thread": self.thread, "q": self.q, "reason": self.reason}
        return {k: v for k, v in values.items() if v}


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
    reason = _text(args, "reason").lower() or None
    if reason and not _REASON.fullmatch(reason):
        raise ValidationError("invalid reason", fields={"reason": f"a signal name such as {', '.join(REASONS)}"})
    return Filter(status=status, thread=thread, q=q, reason=reason)


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
    if flt.reason:
        statement = statement.where(has_reason(flt.reason))
    return statement.order_by(Comment.id)


def has_reason(reason: str) -> Any:
    """Return the condition "*reason* is among the comment's flag_reasons", the same on SQLite and PostgreSQL.

    flag_reasons is a JSON list of names stored as JSON text on both databases (PostgreSQL's ``json`` type keeps
    the text as written), so the quoted name is matched in its text: ``LIKE '%"links"%'``. A name is letters,
    digits and underscores (parse_filter), and the quotes keep ``link`` from matching ``links``; the underscore is
    escaped because LIKE reads it as a wildcard.
    """
    return cast(Comment.flag_reasons, String).like(f'%"{_escape_like(reason)}"%', escape="\\")


def moderator_view(comment: Comment) -> dict[str, Any]:
    """Return the moderator view of *comment*: the full view plus why it was held and what the signals measured."""
    view = views.full_view(comment)
    view.setdefault("held", comment.held)
    view.setdefault("flag_reasons", list(comment.flag_reasons or []))
    view.setdefault("signals", dict(comment.signals or {}))
    view.setdefault("model_score", comment.model_score)
    return view


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _value(value: Any) -> str:
    """Return a signal's value as short text (scores to two decimals)."""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(_value, value))
    return str(value)


def signal_text(name: str, value: Any) -> str:
    """Return one signal as moderators read it: ``links: 3``, ``duplicate: 3rd copy``, ``model: 0.93``, ``honeypot``."""
    if value is True:
        return name
    if name == "duplicate" and isinstance(value, int) and not isinstance(value, bool):
        return f"{name}: {_ordinal(value)} copy"
    return f"{name}: {_value(value)}"


def signal_texts(comment: Comment) -> list[str]:
    """Return each recorded signal of *comment* as short text, those it was held for first."""
    signals = dict(comment.signals or {})
    reasons = [r for r in (comment.flag_reasons or []) if r in signals]
    return [signal_text(name, signals[name]) for name in [*reasons, *(n for n in signals if n not in reasons)]
            if signals[name] not in (None, False, 0)]


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
