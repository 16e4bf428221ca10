"""Reading the audit log: newest first, with an opaque cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.comments.comments import decode_cursor as _decode
from core.comments.comments import encode_cursor as _encode
from core.comments.comments import iso
from core.storage.models import AuditEvent


def encode_cursor(event_id: int) -> str:
    """Return a cursor that continues before *event_id*."""
    return _encode(event_id)


def decode_cursor(cursor: str | None) -> int | None:
    """Return the id a cursor continues before (None for the first page)."""
    value = _decode(cursor)
    return value or None


def page(
    session: Session, *, comment_id: int | None, limit: int, before_id: int | None, kind: str | None = None
) -> tuple[list[AuditEvent], int | None]:
    """Return one page of events, newest first, and the id to continue before."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if comment_id is not None:
        statement = statement.where(AuditEvent.comment_id == comment_id)
    if before_id is not None:
        statement = statement.where(AuditEvent.id < before_id)
    if kind:
        statement = statement.where(AuditEvent.kind == kind)
    rows = list(session.scalars(statement))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def view(event: AuditEvent) -> dict[str, Any]:
    """Return the JSON view of an audit event."""
    return {"id": event.id, "comment_id": event.comment_id, "kind": event.kind, "action": event.action,
            "actor": event.actor, "reason": event.reason, "detail": event.detail, "redacted": event.redacted,
            "at": iso(event.at)}
