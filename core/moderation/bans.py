"""Bans of authors, by address or by client: made from one of their comments, listed, lifted; every change audited.

A ban stores only a keyed hash (core.signals.identity). The check holds a banned author's new comments with reason
``banned``; ``reject_existing`` also rejects their undecided comments in a background task (run_reject), through
the ordinary decision path so each rejection is guarded, audited and announced like a moderator's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.comments.text import clean_field
from core.comments.views import iso
from core.config import Settings
from core.errors import Conflict, NotFound, ValidationError
from core.moderation import audit, decisions
from core.notifications import outbox
from core.signals import identity
from core.storage import paging
from core.storage.db import session_scope
from core.storage.models import MAX_ID, Action, Comment, Status, Task, utcnow
from core.storage.models_signals import Ban, BanScope

logger = logging.getLogger(__name__)

#: Room is left for the "Banned author (...)" prefix in the rejections' reason (decisions.MAX_REASON).
MAX_REASON = 400
BATCH = 100
#: The task kind that rejects a banned author's undecided comments.
REJECT_TASK = "ban_reject"


@dataclass(frozen=True)
class BanRequest:
    """A validated ban."""

    comment_id: int
    scope: str
    reason: str | None
    reject_existing: bool


def validate(data: Any) -> BanRequest:
    """Check a ban body ``{"comment_id", "scope", "reason"?, "reject_existing"?}``; raise ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    errors: dict[str, str] = {}
    comment_id = data.get("comment_id")
    if not isinstance(comment_id, int) or isinstance(comment_id, bool) or not 0 < comment_id <= MAX_ID:
        errors["comment_id"] = "comment_id must be a positive integer"
    scope = data.get("scope")
    if scope not in BanScope.ALL:
        errors["scope"] = "scope must be 'email' or 'client'"
    reason, problem = clean_field(data.get("reason"), name="reason", max_chars=MAX_REASON, required=False,
                                  multiline=True)
    if problem:
        errors["reason"] = problem
    reject_existing = data.get("reject_existing", False)
    if not isinstance(reject_existing, bool):
        errors["reject_existing"] = "reject_existing must be true or false"
    if errors:
        raise ValidationError("invalid ban", fields=errors)
    return BanRequest(comment_id=comment_id, scope=scope, reason=reason, reject_existing=reject_existing)


def _hash_of(comment: Comment, scope: str, settings: Settings) -> str:
    """Return the hash a ban of *comment*'s author in *scope* stores; raise ValidationError when there is none."""
    if scope == BanScope.EMAIL:
        value = identity.email_hash(settings, comment.email)
        if value is None:
            raise ValidationError("nothing to ban", fields={"scope": f"comment {comment.id} has no email address"})
        return value
    if not comment.client_hash:
        raise ValidationError("nothing to ban", fields={"scope": f"comment {comment.id} has no recorded client"})
    return comment.client_hash


def active(session: Session, scope: str, value_hash: str) -> Ban | None:
    """Return the ban in force for *scope* and *value_hash*, if any."""
    return session.scalar(select(Ban).where(Ban.scope == scope, Ban.value_hash == value_hash,
                                            Ban.removed_at.is_(None)).order_by(Ban.id).limit(1))


def create(session: Session, request: BanRequest, moderator: str, settings: Settings) -> Ban:
    """Ban the author of a comment (and queue the task rejecting their comments when asked); the caller commits.

    Raises:
        NotFound: the comment does not exist.
        ValidationError: the comment has no address (scope email) or no client (scope client).
        Conflict: a ban of the same author in the same scope is in force.
    """
    comment = session.get(Comment, request.comment_id)
    if comment is None:
        raise NotFound(f"comment {request.comment_id} does not exist")
    value_hash = _hash_of(comment, request.scope, settings)
    existing = active(session, request.scope, value_hash)
    if existing is not None:
        raise Conflict(f"this author is already banned by {request.scope} (ban {existing.id})")
    ban = Ban(scope=request.scope, value_hash=value_hash, reason=request.reason, comment_id=comment.id,
              created_by=moderator, created_at=utcnow())
    try:
        with session.begin_nested():  # a savepoint: a concurrent ban of the same author fails only this insert
            session.add(ban)
    except IntegrityError:
        raise Conflict(f"this author is already banned by {request.scope}") from None
    if request.reject_existing:
        task = Task(kind=REJECT_TASK, params={"ban_id": ban.id}, created_by=moderator, status="queued", done=0)
        session.add(task)
        session.flush()
        ban.task_id = task.id
    audit.record(session, kind="ban", action="ban", actor=moderator, comment_id=comment.id, reason=request.reason,
                 detail={"ban": ban.id, "scope": request.scope, "reject_existing": request.reject_existing})
    logger.info("Ban %d (%s) from comment %d by %s", ban.id, request.scope, comment.id, moderator)
    return ban


def remove(session: Session, ban_id: int, moderator: str) -> Ban:
    """Lift ban *ban_id* (it stays listed with ``?all=1``); raise NotFound, or Conflict if already lifted."""
    now = utcnow()
    lifted = session.execute(
        update(Ban).where(Ban.id == ban_id, Ban.removed_at.is_(None)).values(removed_at=now, removed_by=moderator)
        .execution_options(synchronize_session=False)
    ).rowcount
    ban = session.get(Ban, ban_id)
    if ban is None:
        raise NotFound(f"ban {ban_id} does not exist")
    if not lifted:
        raise Conflict(f"ban {ban_id} was already lifted by {ban.removed_by}")
    session.refresh(ban)
    audit.record(session, kind="ban", action="unban", actor=moderator, comment_id=ban.comment_id,
                 detail={"ban": ban.id, "scope": ban.scope})
    logger.info("Ban %d lifted by %s", ban_id, moderator)
    return ban


def get(session: Session, ban_id: int) -> Ban:
    """Return ban *ban_id*; raise NotFound."""
    ban = session.get(Ban, ban_id)
    if ban is None:
        raise NotFound(f"ban {ban_id} does not exist")
    return ban


def page(session: Session, *, include_removed: bool, limit: int, before_id: int | None) -> tuple[list[Ban], int | None]:
    """Return one page of bans, newest first (those in force only, unless *include_removed*), and the next id."""
    statement = select(Ban).order_by(Ban.id.desc())
    if not include_removed:
        statement = statement.where(Ban.removed_at.is_(None))
    if before_id is not None:
        statement = statement.where(Ban.id < before_id)
    return paging.page(session, statement, limit)


def of_comment(session: Session, comment: Comment, settings: Settings) -> list[Ban]:
    """Return the bans in force that name *comment*'s author (by address or by client)."""
    conditions = []
    email = identity.email_hash(settings, comment.email)
    if email:
        conditions.append((Ban.scope == BanScope.EMAIL) & (Ban.value_hash == email))
    if comment.client_hash:
        conditions.append((Ban.scope == BanScope.CLIENT) & (Ban.value_hash == comment.client_hash))
    if not conditions:
        return []
    return list(session.scalars(select(Ban).where(Ban.removed_at.is_(None), or_(*conditions)).order_by(Ban.id)))


def view(ban: Ban) -> dict[str, Any]:
    """Return the JSON view of a ban (never the hash: it is a secret-keyed fingerprint of the author)."""
    return {"id": ban.id, "scope": ban.scope, "reason": ban.reason, "comment_id": ban.comment_id,
            "created_by": ban.created_by, "created_at": iso(ban.created_at), "task_id": ban.task_id,
            "removed_by": ban.removed_by, "removed_at": iso(ban.removed_at)}


# ---- the reject_existing task ------------------------------------------------------------------------------------

def _undecided() -> tuple[ColumnElement[bool], ...]:
    # Pending comments cannot be decided yet: the check holds them as "banned" once it reaches them.
    return (Comment.decision.is_(None), Comment.status.in_((Status.FLAGGED, Status.PUBLISHED)))


def _author_condition(session: Session, ban: Ban) -> ColumnElement[bool] | None:
    """Return the SQL condition selecting the banned author's comments (None when it cannot be expressed)."""
    if ban.scope == BanScope.CLIENT:
        return Comment.client_hash == ban.value_hash
    source = session.get(Comment, ban.comment_id) if ban.comment_id else None
    if source is None or not source.email:
        return None
    # Stored addresses are already stripped (validation), so lower() here equals the hash's normalisation.
    return func.lower(Comment.email) == source.email.strip().lower()


def _matching(session: Session, ban: Ban, settings: Settings, after_id: int, limit: int) -> list[int]:
    """Return the ids of the banned author's undecided comments after *after_id*, in id order."""
    condition = _author_condition(session, ban)
    statement = select(Comment.id, Comment.email).where(*_undecided(), Comment.id > after_id).order_by(Comment.id)
    if condition is not None:
        return list(session.scalars(statement.with_only_columns(Comment.id).where(condition).limit(limit)))
    # The comment the email ban was made from is gone: compare each address's hash instead (slower, still batched).
    ids: list[int] = []
    last = after_id
    while len(ids) < limit:
        rows = session.execute(statement.where(Comment.email.is_not(None), Comment.id > last).limit(limit * 10)).all()
        if not rows:
            break
        ids += [row.id for row in rows if identity.email_hash(settings, row.email) == ban.value_hash]
        last = rows[-1].id
    return ids[:limit]


def _count(session: Session, ban: Ban) -> int | None:
    condition = _author_condition(session, ban)
    if condition is None:
        return None
    return session.scalar(select(func.count()).select_from(Comment).where(*_undecided(), condition)) or 0


def run_reject(task: Task, settings: Settings, send_notification: Callable[[int], bool] | None) -> dict[str, Any]:
    """Reject every undecided comment of the ban's author in batches, recording progress on *task*; return counts.

    Each rejection goes through decisions.decide_many (guarded, audited, webhook rows); the rows are sent after
    each batch's commit when *send_notification* is given (else the outbox re-dispatch sends them).
    """
    result: dict[str, Any] = {"rejected": 0, "skipped": 0, "examples": []}
    with session_scope() as session:
        ban = session.get(Ban, (task.params or {}).get("ban_id", 0))
        if ban is None:
            return {"error": f"ban {(task.params or {}).get('ban_id')} does not exist"}
        session.expunge(ban)
        total = _count(session, ban)
        session.execute(update(Task).where(Task.id == task.id).values(total=total))
    reason = f"Banned author ({ban.scope})" + (f": {ban.reason}" if ban.reason else "")
    request = decisions.DecisionRequest(action=Action.REJECT, reason=reason)
    last_id = 0
    while True:
        with session_scope() as session:
            ids = _matching(session, ban, settings, last_id, BATCH)
            if not ids:
                break
            outcomes = decisions.decide_many(session, ids, request, task.created_by, settings, label=False)
            done = [o["id"] for o in outcomes if o["result"] == "ok"]
            result["rejected"] += len(done)
            result["skipped"] += len(outcomes) - len(done)
            result["examples"] = (result["examples"] + done)[:20]
            session.execute(update(Task).where(Task.id == task.id).values(done=Task.done + len(ids)))
        last_id = ids[-1]
        _send(outbox.written(session), send_notification)
    logger.info("Task %d (%s) of ban %d done: %s", task.id, REJECT_TASK, ban.id, result)
    return result


def _send(ids: Iterable[int], send_notification: Callable[[int], bool] | None) -> None:
    if send_notification is not None:
        outbox.send_all(ids, send_notification)
