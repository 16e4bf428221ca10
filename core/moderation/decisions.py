"""Moderator decisions: approve or reject, once, with one audit event per decision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.comments.reading import get, pending_translations
from core.comments.text import clean_field
from core.config import Settings
from core.errors import Conflict, NotFound, ValidationError
from core.moderation import audit, labels
from core.notifications import outbox, replies
from core.storage.models import MAX_ID, Action, Comment, Status, Translation, TranslationStatus, utcnow

MAX_REASON = 500
MAX_BULK = 1000
#: The statuses each action may leave; a pending comment waits for its check first.
FROM_STATUSES = {Action.APPROVE: (Status.FLAGGED,), Action.REJECT: (Status.FLAGGED, Status.PUBLISHED)}
TO_STATUS = {Action.APPROVE: Status.PUBLISHED, Action.REJECT: Status.REJECTED}


class TranslationSender(Protocol):
    """What sends translations: core.messaging.dispatch.Dispatcher (moderation does not import messaging)."""

    def send_translation(self, comment_id: int, lang: str) -> bool:
        """Ask the workers to translate *comment_id* into *lang*; return whether the broker took it."""


@dataclass(frozen=True)
class DecisionRequest:
    """A validated decision."""

    action: str
    reason: str | None


def validate(data: Any) -> DecisionRequest:
    """Check a decision body ``{"action", "reason"?}``; raise ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    errors: dict[str, str] = {}
    action = data.get("action")
    if action not in Action.ALL:
        errors["action"] = "action must be 'approve' or 'reject'"
    reason, problem = clean_field(data.get("reason"), name="reason", max_chars=MAX_REASON, required=False,
                                  multiline=True)
    if problem:
        errors["reason"] = problem
    if errors:
        raise ValidationError("invalid decision", fields=errors)
    return DecisionRequest(action=action, reason=reason)


def decide(session: Session, comment_id: int, request: DecisionRequest, moderator: str, settings: Settings,
           *, label: bool = True) -> Comment:
    """Apply a decision to one comment; raise NotFound, or Conflict if decided or still pending.

    An approval writes the reply mail of the comment it makes visible (*settings* say whether mail is on). A
    decision on a comment the model scored is kept as a label unless *label* is False (a ban's bulk rejections
    judge the author, not the text).
    """
    now = utcnow()
    applied = session.execute(
        update(Comment)
        .where(
            Comment.id == comment_id,
            Comment.decision.is_(None),
            Comment.status.in_(FROM_STATUSES[request.action]),
        )
        .values(
            status=TO_STATUS[request.action],
            decision=request.action,
            decision_reason=request.reason,
            decided_by=moderator,
            decided_at=now,
            updated_at=now,
            # An approved comment is shown, whatever held it; its flag_reasons and signals stay as history.
            **({"held": False} if request.action == Action.APPROVE else {}),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not applied:
        current = session.get(Comment, comment_id)
        if current is None:
            raise NotFound(f"comment {comment_id} does not exist")
        if current.decision:
            raise Conflict(f"comment {comment_id} was already decided ({current.decision} by {current.decided_by})")
        if current.status == Status.PENDING:
            raise Conflict(f"comment {comment_id} is still pending its check")
        raise Conflict(f"comment {comment_id} is {current.status}; cannot {request.action}")
    # An author's edit clears an approval: the new version gets its own decision, and its own audit event.
    version = session.scalar(select(Comment.version).where(Comment.id == comment_id))
    audit.record(
        session, kind="decision", action=request.action, actor=moderator, comment_id=comment_id,
        reason=request.reason, dedupe_key=audit.version_key("decision", comment_id, version or 1),
    )
    # The webhook rows of the decision, in its transaction; the caller sends outbox.written(session) after commit.
    outbox.record_event(session, outbox.DECIDED, comment_id)
    if request.action == Action.REJECT:
        # Nothing left to translate for a rejected comment.
        session.execute(
            update(Translation)
            .where(Translation.comment_id == comment_id, Translation.status == TranslationStatus.PENDING)
            .values(status=TranslationStatus.SKIPPED, reason="comment rejected", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    session.expire_all()
    comment = get(session, comment_id)
    if label:
        labels.record(session, comment, request.action, moderator)  # only when the model scored it
    if request.action == Action.APPROVE:
        replies.on_visible(session, comment, settings)  # in the decision's transaction, sent with outbox.written
    return comment


def decide_many(
    session: Session, ids: list[int], request: DecisionRequest, moderator: str, settings: Settings,
    *, label: bool = True,
) -> list[dict[str, Any]]:
    """Apply a decision to each id; return one result per id (ok, not_found or conflict)."""
    results: list[dict[str, Any]] = []
    for comment_id in ids:
        try:
            with session.begin_nested():
                comment = decide(session, comment_id, request, moderator, settings, label=label)
            results.append({"id": comment_id, "result": "ok", "status": comment.status})
        except NotFound as exc:
            results.append({"id": comment_id, "result": "not_found", "message": str(exc)})
        except Conflict as exc:
            results.append({"id": comment_id, "result": "conflict", "message": str(exc)})
    return results


def parse_ids(value: Any) -> list[int]:
    """Validate a bulk ``ids`` list: 1..MAX_BULK positive integers, duplicates dropped."""
    if not isinstance(value, list) or not value or len(value) > MAX_BULK:
        raise ValidationError("invalid ids", fields={"ids": f"a list of 1 to {MAX_BULK} comment ids"})
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_ID for v in value):
        raise ValidationError("invalid ids", fields={"ids": "every id must be a positive integer"})
    return list(dict.fromkeys(value))


def send_translations(session: Session, dispatcher: TranslationSender, comment_ids: Iterable[int]) -> int:
    """Send the pending translations of approved comments; call it after the commit. Return how many were sent."""
    sent = 0
    for comment_id in comment_ids:
        for lang in pending_translations(session, comment_id):
            sent += dispatcher.send_translation(comment_id, lang)
    return sent
