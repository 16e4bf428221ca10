"""Moderators' background tasks, run by a worker: preview a word-list change, rescan comments after one, reject a
banned author's comments (core.moderation.bans)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import NotFound, ValidationError
from core.moderation import audit, bans, checking, wordlists
from core.storage.db import session_scope
from core.storage.models import Comment, Status, Task, Translation, TranslationStatus, utcnow

logger = logging.getLogger(__name__)

PREVIEW = "wordlist_preview"
RESCAN = "rescan"
#: Rejecting a banned author's undecided comments.
BAN_REJECT = bans.REJECT_TASK
BATCH = 200
#: run_task's time limit (actors.maintenance): Dramatiq stops a run that takes longer.
TIME_LIMIT = timedelta(minutes=30)
#: A running task whose progress has not moved for this long is dead, not slow: no run outlives TIME_LIMIT.
LEASE = TIME_LIMIT + timedelta(minutes=5)


class TaskSender(Protocol):
    """What sends tasks: core.messaging.dispatch.Dispatcher (moderation does not import messaging)."""

    def send_task(self, task_id: int) -> bool:
        """Ask a worker to run task *task_id*; return whether the broker took it."""


def create(session: Session, kind: str, params: dict[str, Any], moderator: str) -> Task:
    """Add a queued task; the caller commits, then sends its message."""
    task = Task(kind=kind, params=params, created_by=moderator, status="queued", done=0)
    session.add(task)
    session.flush()
    return task


def start(session: Session, dispatcher: TaskSender, kind: str, params: dict[str, Any],
          moderator: str) -> tuple[Task, bool]:
    """Create a task and commit *session* so the worker finds it, then send it; return it and whether it was sent."""
    task = create(session, kind, params, moderator)
    session.commit()
    sent = dispatcher.send_task(task.id)
    logger.info("Task %d (%s) started by %s%s", task.id, kind, moderator, "" if sent else " (not sent yet)")
    return task, sent


def recent(session: Session, limit: int) -> list[Task]:
    """Return the *limit* newest tasks, newest first."""
    return list(session.scalars(select(Task).order_by(Task.id.desc()).limit(limit)))


def get(session: Session, task_id: int) -> Task:
    """Return task *task_id*; raise NotFound."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def view(task: Task) -> dict[str, Any]:
    """Return the JSON view of a task."""
    from core.comments.views import iso

    return {"id": task.id, "kind": task.kind, "status": task.status, "params": task.params, "done": task.done,
            "total": task.total, "result": task.result, "created_by": task.created_by,
            "created_at": iso(task.created_at), "updated_at": iso(task.updated_at)}


def redispatches(task: Task) -> int:
    """Return how many times the scheduler re-sent unfinished *task* (kept in its result until it finishes)."""
    # In the result rather than a column of its own: an unfinished task has no other result, and _finish replaces it.
    return int((task.result or {}).get("redispatches", 0)) if task.status in ("queued", "running") else 0


def stuck(session: Session, now: datetime, cutoff: datetime, limit: int) -> tuple[list[int], int]:
    """Queue again the tasks to re-send: queued since *cutoff* (their message lost) or running without progress
    for LEASE (their worker killed); fail those re-sent *limit* times. Return the ids to send and how many failed."""
    lease_cutoff = min(cutoff, now - LEASE)
    resend: list[int] = []
    failed = 0
    for task in session.scalars(
        select(Task).where(((Task.status == "queued") & (Task.updated_at < cutoff))
                           | ((Task.status == "running") & (Task.updated_at < lease_cutoff)))
        .order_by(Task.id).limit(BATCH)
    ):
        count = redispatches(task)
        # Guarded on what was read: a claim, progress or an overlapping re-dispatch since then leaves the row alone.
        guarded = update(Task).where(
            Task.id == task.id, Task.status == task.status,
            Task.updated_at < (cutoff if task.status == "queued" else lease_cutoff),
        ).execution_options(synchronize_session=False)
        if count >= limit:
            reason = f"not {'started' if task.status == 'queued' else 'finished'} after {count} re-dispatches"
            if session.execute(guarded.values(status="failed", result={"error": reason}, updated_at=now)).rowcount:
                logger.warning("Task %d (%s) failed: %s", task.id, task.kind, reason)
                failed += 1
        # A dead run goes back to queued, so the ordinary queued -> running claim lets exactly one worker rerun it.
        elif session.execute(guarded.values(status="queued", result={"redispatches": count + 1},
                                             updated_at=now)).rowcount:
            resend.append(task.id)
    return resend, failed


def _undecided():  # type: ignore[no-untyped-def]
    return (Comment.decision.is_(None), Comment.status.in_((Status.PUBLISHED, Status.FLAGGED)))


def _texts(session: Session, rows: list[Comment]) -> dict[int, list[str]]:
    """Return each comment's finished translation texts."""
    texts: dict[int, list[str]] = {row.id: [] for row in rows}
    for comment_id, text in session.execute(
        select(Translation.comment_id, Translation.text).where(
            Translation.comment_id.in_(texts), Translation.status == TranslationStatus.DONE
        )
    ):
        texts[comment_id].append(text or "")
    return texts


def _start(task_id: int) -> Task | None:
    """Mark a queued task running (once) and count its comments; None if it is running or finished."""
    with session_scope() as session:
        # done restarts at 0: a task re-queued after its worker died runs again from the start (every step is
        # guarded, so redoing the first part changes nothing).
        claimed = session.execute(
            update(Task).where(Task.id == task_id, Task.status == "queued").values(status="running", done=0)
        ).rowcount
        if not claimed:
            return None
        task = session.get(Task, task_id)
        if task is not None and task.kind in (PREVIEW, RESCAN):
            task.total = session.query(Comment.id).filter(*_undecided()).count()
        return task


def run(task_id: int, settings: Settings | None = None,
        send_notification: Callable[[int], bool] | None = None) -> dict[str, Any] | None:
    """Run a task in batches, recording progress; safe to run twice (a second run is a no-op).

    A ban's task needs the *settings* (its decisions) and sends its webhook rows with *send_notification*.
    """
    task = _start(task_id)
    if task is None:
        return None
    if task.kind == BAN_REJECT:
        if settings is None:
            raise ValidationError(f"task {task_id} ({task.kind}) needs the settings")
        return _finish(task, bans.run_reject(task, settings, send_notification))
    apply_changes = task.kind == RESCAN
    with session_scope() as session:
        lists = wordlists.current(session)
    proposed = lists
    if task.kind == PREVIEW:
        proposed = wordlists.with_change(lists, wordlists.validate_change(task.params))
    engine = wordlists.engine_for(proposed)
    result: dict[str, Any] = {"would_flag" if not apply_changes else "flagged": 0,
                              "would_unflag" if not apply_changes else "unflagged": 0, "examples": []}
    flag_key, unflag_key = list(result)[:2]
    last_id = 0
    while True:
        with session_scope() as session:
            rows = list(session.scalars(
                select(Comment).where(*_undecided(), Comment.id > last_id).order_by(Comment.id).limit(BATCH)
            ))
            if not rows:
                break
            texts = _texts(session, rows)
            for row in rows:
                verdict = checking.examine(engine, row.body, row.author)
                profane = verdict.profane or any(engine.check(t).profane for t in texts[row.id])
                if profane and row.status == Status.PUBLISHED:
                    result[flag_key] += 1
                elif not profane and row.status == Status.FLAGGED and not row.check_error and not row.held:
                    # A comment held by another signal (links, burst, model, ...) stays held: the word list is not
                    # why it is flagged.
                    result[unflag_key] += 1
                else:
                    continue
                if len(result["examples"]) < 20:
                    result["examples"].append(row.id)
                if apply_changes:
                    _reclassify(session, row, profane, verdict, task_id)
            last_id = rows[-1].id
            session.execute(update(Task).where(Task.id == task_id).values(done=Task.done + len(rows)))
    return _finish(task, result)


def _finish(task: Task, result: dict[str, Any]) -> dict[str, Any]:
    """Record *task*'s result: done, or failed when the result names an error."""
    status = "failed" if "error" in result else "done"
    with session_scope() as session:
        session.execute(update(Task).where(Task.id == task.id).values(status=status, result=result))
    logger.info("Task %d (%s) %s: %s", task.id, task.kind, status, result)
    return result


def _reclassify(session: Session, row: Comment, profane: bool, verdict: checking.Found, task_id: int) -> None:
    """Flag or unflag one undecided comment after a rescan (guarded: decisions always win)."""
    now = utcnow()
    new_status = Status.FLAGGED if profane else Status.PUBLISHED
    changed = session.execute(
        update(Comment)
        .where(Comment.id == row.id, Comment.status == row.status, Comment.decision.is_(None),
               *(() if profane else (Comment.held.is_(False),)))
        .values(status=new_status, censored_body=verdict.censored, matched_words=verdict.stored,
                flagged_at=now if profane else None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        audit.record(
            session, kind="system", action="flagged" if profane else "unflagged", actor=audit.SYSTEM,
            comment_id=row.id, detail={**verdict.detail(), "source": "rescan", "task": task_id},
            dedupe_key=f"rescan:{task_id}:{row.id}",
        )
