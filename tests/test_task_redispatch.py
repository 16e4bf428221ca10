"""Moderators' tasks reach a final state: the re-dispatch re-sends lost and abandoned ones, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from core.moderation import tasks
from core.scheduling import maintenance
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Task, utcnow
from tests import seed


@pytest.fixture
def settings(stack, clean_db):  # type: ignore[no-untyped-def]
    """Settings with a 5-minute stuck threshold and two re-dispatches before giving up."""
    db.configure(stack.database_url)
    return stack.settings(stuck_after_seconds=300, redispatch_max_attempts=2)


def new_task(status: str = "queued", updated_at: datetime | None = None) -> int:
    """Add a rescan task in *status*, last touched at *updated_at*; return its id."""
    with db.session_scope() as session:
        task_id = tasks.create(session, tasks.RESCAN, {}, "alice").id
    when = updated_at or utcnow()
    with db.session_scope() as session:
        session.execute(update(Task).where(Task.id == task_id).values(status=status, created_at=when,
                                                                      updated_at=when))
    return task_id


def redispatch(settings, now: datetime) -> maintenance.Outcome:  # type: ignore[no-untyped-def]
    """Run the re-dispatch job in its own transaction."""
    with db.session_scope() as session:
        return maintenance.redispatch(session, settings, now)


def state(task_id: int) -> tuple[str, dict | None]:
    """Return task *task_id*'s stored status and result."""
    with db.session_scope() as session:
        return tuple(session.execute(select(Task.status, Task.result).where(Task.id == task_id)).one())


def test_a_queued_task_whose_message_was_lost_is_resent_and_runs_to_done(settings):
    # Given a rescan queued ten minutes ago whose message the broker never confirmed
    now = utcnow()
    comment_id = seed.comment(status=Status.PUBLISHED, words=())
    task_id = new_task(updated_at=now - timedelta(minutes=10))
    # When the re-dispatch runs, it sends the task again (once)
    outcome = redispatch(settings, now)
    assert outcome.tasks == [task_id] and outcome.detail["tasks"] == 1
    assert redispatch(settings, now + timedelta(seconds=60)).tasks == []
    # Then the re-sent message runs it to done
    assert tasks.run(task_id)["flagged"] == 1
    status, result = state(task_id)
    assert (status, result["flagged"]) == ("done", 1)
    with db.session_scope() as session:
        assert session.get(Comment, comment_id).status == Status.FLAGGED


def test_finished_fresh_and_recently_active_tasks_are_not_resent(settings):
    now = utcnow()
    old = now - timedelta(minutes=10)
    new_task("done", old)
    new_task("failed", old)
    new_task("queued", now - timedelta(seconds=30))  # its message may still be on its way
    new_task("running", old)  # slower than STUCK_AFTER_SECONDS, but within its lease
    new_task("running", now - tasks.LEASE + timedelta(minutes=1))
    outcome = redispatch(settings, now)
    assert outcome.tasks == [] and outcome.detail["failed"] == 0


def test_a_task_whose_worker_died_is_queued_again_and_claimed_once(settings):
    # Given a rescan left running by a killed worker: no progress for longer than the lease
    now = utcnow()
    seed.comment(status=Status.PUBLISHED, words=())
    task_id = new_task("running", now - tasks.LEASE - timedelta(minutes=1))
    assert tasks.run(task_id) is None  # its own retry cannot claim it: it is "running"
    # When the re-dispatch runs, it puts it back in the queue and sends it
    assert redispatch(settings, now).tasks == [task_id]
    assert state(task_id) == ("queued", {"redispatches": 1})
    # Then the re-sent message and a late duplicate of it do the work once
    assert tasks.run(task_id)["flagged"] == 1
    assert tasks.run(task_id) is None
    assert state(task_id)[0] == "done"
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "flagged")) == 1


def test_a_task_never_run_fails_after_the_limit(settings):
    now = utcnow()
    queued = new_task(updated_at=now - timedelta(minutes=10))
    dead = new_task("running", now - tasks.LEASE - timedelta(minutes=1))
    gap = tasks.LEASE + timedelta(minutes=1)
    for step in range(2):
        later = now + gap * step
        assert redispatch(settings, later).tasks == [queued, dead]
        with db.session_scope() as session:  # the re-sent rescan of *dead* is claimed, then its worker dies again
            session.execute(update(Task).where(Task.id == dead).values(status="running", updated_at=later))
    outcome = redispatch(settings, now + gap * 2)
    assert outcome.tasks == [] and outcome.detail["failed"] == 2
    assert state(queued) == ("failed", {"error": "not started after 2 re-dispatches"})
    assert state(dead) == ("failed", {"error": "not finished after 2 re-dispatches"})
    assert tasks.run(queued) is None  # a message arriving after all does nothing
