"""Audit events: one row per decision or system event, idempotent through a natural key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.storage.db import dialect_insert
from core.storage.models import AuditEvent, utcnow

SYSTEM = "system"


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
