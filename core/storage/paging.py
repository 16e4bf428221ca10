"""Cursor paging by id: opaque cursors, a checked page size, and one page of rows read as limit + 1."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.storage.models import MAX_ID

MAX_PAGE = 100
T = TypeVar("T")


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


def is_number(raw: Any, low: int, high: int) -> bool:
    """Return whether *raw* is a string of ASCII digits naming an integer from *low* to *high*."""
    # isdigit() alone also accepts "²" and "١٠", which int() refuses or reads; and int() refuses 4300+ digits.
    return (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= len(str(high))
            and low <= int(raw) <= high)


def parse_id(raw: Any, field: str = "id") -> int:
    """Return the id *raw* names; raise ValidationError (on *field*) unless it is 1..MAX_ID in ASCII digits."""
    if not is_number(raw, 1, MAX_ID):
        raise ValidationError(f"invalid {field}", fields={field: "an id is a positive integer"})
    return int(raw)


def parse_limit(raw: str | None, default: int = 20) -> int:
    """Return the page size asked for; raise ValidationError unless it is 1..MAX_PAGE."""
    if raw is None or raw == "":
        return default
    if not is_number(raw, 1, MAX_PAGE):
        raise ValidationError("invalid limit", fields={"limit": f"limit must be an integer from 1 to {MAX_PAGE}"})
    return int(raw)


def page(session: Session, statement: Select[tuple[T]], limit: int) -> tuple[list[T], Any]:
    """Return the first *limit* rows of *statement* (ordered by id) and the id to continue from, or None."""
    rows = list(session.scalars(statement.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)  # type: ignore[attr-defined]
