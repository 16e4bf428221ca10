"""The audit log: one event per decision or system event (idempotent through a natural key), read newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.comments.views import iso
from core.storage import paging
from core.storage.db import dialect_insert
from core.storage.models import AuditEvent, utcnow

SYSTEM = "system"


def version_key(action: str, comment_id: int, version: int) -> str:
    """Return the dedupe key of an event about one version of a comment (version 1 keeps the key it always had)."""
    return f"{action}:{comment_id}" if version == 1 else f"{action}:{comment_id}:v{version}"


def record(
    session: Session,
    *,
    kind: str,
    action: str,
    actor: str,
    comment_id: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> bool:
    """Insert an audit event unless one with *dedupe_key* exists; return True when inserted."""
    values = {
        "comment_id": comment_id,
        "kind": kind,
        "action": action,
        "actor": actor,
        "reason": reason,
        "detail": detail,
        "dedupe_key": dedupe_key,
        "redacted": False,
        "at": utcnow(),
    }
    if dedupe_key is None:
        statement = insert(AuditEvent).values(**values)
    else:
        statement = dialect_insert(session)(AuditEvent).values(**values).on_conflict_do_nothing(
            index_elements=["dedupe_key"])
    return session.execute(statement).rowcount == 1


def encode_cursor(event_id: int) -> str:
    """Return a cursor that continues before *event_id*."""
    return paging.encode_cursor(event_id)


def decode_cursor(cursor: str | None) -> int | None:
    """Return the id a cursor continues before (None for the first page)."""
    value = paging.decode_cursor(cursor)
    return value or None


def page(
    session: Session, *, comment_id: int | None, limit: int, before_id: int | None, kind: str | None = None
) -> tuple[list[AuditEvent], int | None]:
    """Return one page of events, newest first, and the id to continue before."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    if comment_id is not None:
        statement = statement.where(AuditEvent.comment_id == comment_id)
    if before_id is not None:
        statement = statement.where(AuditEvent.id < before_id)
    if kind:
        statement = statement.where(AuditEvent.kind == kind)
    return paging.page(session, statement, limit)


def view(event: AuditEvent) -> dict[str, Any]:
    """Return the JSON view of an audit event."""
    return {"id": event.id, "comment_id": event.comment_id, "kind": event.kind, "action": event.action,
            "actor": event.actor, "reason": event.reason, "detail": event.detail, "redacted": event.redacted,
            "at": iso(event.at)}
