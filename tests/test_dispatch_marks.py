"""The per-process batcher that records confirmed dispatches off the request path."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from core.comments import intake
from core.comments.validation import NewComment
from core.messaging import marks as marks_module
from core.messaging.marks import DispatchMarks
from core.storage import db
from core.storage.models import Comment
from tests import support


@pytest.fixture
def stored_comments(stack, clean_db):  # type: ignore[no-untyped-def]
    """Store *n* pending comments; return their (id, created_at) keys."""
    db.configure(stack.database_url)

    def store(n: int) -> list[tuple[int, object]]:
        with db.session_scope() as session:
            rows = [intake.create(session, NewComment("t", "Ada", f"comment {i}", "en"), ("en",)) for i in range(n)]
            return [(row.id, row.created_at) for row in rows]

    return store


def state(comment_id: int) -> tuple[bool, int, object]:
    """Return (dispatched?, dispatch_attempts, updated_at) of a comment."""
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        return comment.dispatched_at is not None, comment.dispatch_attempts, comment.updated_at


def wait_marked(comment_id: int) -> None:
    """Poll until the comment is marked dispatched (the writer runs every few ms here)."""
    support.poll(lambda: state(comment_id)[0], 5, what=f"comment {comment_id} marked dispatched")


def test_the_writer_marks_every_queued_comment_once_and_keeps_updated_at(stored_comments):
    keys = stored_comments(3)
    before = {comment_id: state(comment_id) for comment_id, _ in keys}
    marks = DispatchMarks(interval=0.01)
    for comment_id, created_at in keys:
        marks.add(comment_id, created_at)
    for comment_id, _ in keys:
        wait_marked(comment_id)
        dispatched, attempts, updated_at = state(comment_id)
        assert attempts == 1 and updated_at == before[comment_id][2]
    assert marks.pending() == 0


def test_the_writer_survives_a_database_error_and_drops_that_batch(stored_comments, monkeypatch):
    (lost_id, lost_created), (kept_id, kept_created) = stored_comments(2)
    real = marks_module.mark_dispatched
    failures: list[int] = []

    def fail_once(connection, keys, now):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(len(keys))
            raise OperationalError("UPDATE comments", {}, Exception("server closed the connection unexpectedly"))
        return real(connection, keys, now)

    monkeypatch.setattr(marks_module, "mark_dispatched", fail_once)
    marks = DispatchMarks(interval=0.01)
    marks.add(lost_id, lost_created)
    support.poll(lambda: failures, 5, what="the injected failure")
    marks.add(kept_id, kept_created)
    wait_marked(kept_id)
    # The failed batch is not retried: the scheduler's re-dispatch sends that check again.
    assert state(lost_id)[:2] == (False, 0)


def test_a_mark_names_the_row_not_just_the_id(stored_comments):
    [(comment_id, created_at)] = stored_comments(1)
    marks = DispatchMarks(interval=3600)  # flushed by hand
    marks.add(comment_id, created_at + timedelta(microseconds=1))  # the id reused by a later comment
    assert marks.flush() == 0 and state(comment_id)[:2] == (False, 0)
    marks.add(comment_id, created_at)
    assert marks.flush() == 1 and state(comment_id)[:2] == (True, 1)


def test_flush_writes_large_backlogs_in_several_statements(stored_comments, monkeypatch):
    monkeypatch.setattr("core.messaging.marks.MAX_BATCH", 2)
    keys = stored_comments(5)
    marks = DispatchMarks(interval=3600)
    for key in keys:
        marks.add(*key)
    assert marks.flush() == 5 and marks.pending() == 0
    assert all(state(comment_id)[:2] == (True, 1) for comment_id, _ in keys)


def test_a_forked_child_starts_with_no_marks_and_its_own_writer(stored_comments):
    [key] = stored_comments(1)
    marks = DispatchMarks(interval=3600)
    marks.add(*key)
    marks.after_fork()  # what os.register_at_fork runs in the child
    assert marks.pending() == 0 and marks.flush() == 0
    marks.add(*key)
    assert marks.pending() == 1


def test_a_clean_exit_writes_what_the_last_interval_queued(stack, stored_comments):
    [(comment_id, created_at)] = stored_comments(1)
    code = (
        "import datetime\n"
        "from core.storage import db\n"
        "from core.messaging.marks import MARKS\n"
        f"db.configure({stack.database_url!r})\n"
        f"MARKS.add({comment_id}, datetime.datetime.fromisoformat({created_at.isoformat()!r}))\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=support.ROOT, check=True, timeout=60)
    assert state(comment_id)[:2] == (True, 1)
